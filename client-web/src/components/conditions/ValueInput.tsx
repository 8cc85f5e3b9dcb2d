import { useId } from "react";
import { Operator } from "../../gen/cdp/v1/common_pb";
import { FieldType, type UserField } from "../../gen/cdp/v1/users_pb";
import { displayValue, slug, valueKind, type DraftCondition } from "../../lib/conditions";
import { TagInput } from "../TagInput";
import { cx } from "../cx";

export interface CohortChoice {
  /** Cohort id, decimal. */
  id: string;
  name: string;
  /** Shown beside the name. */
  hint?: string;
}

export interface AmplitudeChoice {
  /** Amplitude's cohort id. */
  id: string;
  name: string;
}

const INPUT =
  "h-9 rounded-lg border-0 bg-white px-3 text-sm text-zinc-900 shadow-xs ring-1 ring-inset placeholder:text-zinc-400 focus:ring-2 focus:ring-inset focus:ring-brand-500 focus:outline-none disabled:bg-zinc-50 disabled:text-zinc-500";

function ring(invalid: boolean) {
  return invalid ? "ring-red-300" : "ring-zinc-300";
}

function Unit({ children }: { children: string }) {
  if (!children) return null;
  return <span className="shrink-0 text-[13px] text-zinc-500">{children}</span>;
}

/** The value input(s) a condition's field and operator call for. */
export function ValueInput({
  condition,
  field,
  onChange,
  cohorts = [],
  amplitudeCohorts = [],
  invalid = false,
  disabled = false,
}: {
  condition: DraftCondition;
  field: UserField;
  onChange: (patch: Partial<DraftCondition>) => void;
  cohorts?: readonly CohortChoice[];
  amplitudeCohorts?: readonly AmplitudeChoice[];
  invalid?: boolean;
  disabled?: boolean;
}) {
  const listId = useId();
  const kind = valueKind(field.type, condition.operator);
  const unit = field.unit === "percent" ? "%" : field.unit;

  switch (kind) {
    case "none":
      return null;
    case "number":
      return (
        <div className="flex min-w-0 items-center gap-2">
          <input
            aria-label="Value"
            inputMode="decimal"
            placeholder="0"
            value={condition.value}
            disabled={disabled}
            onChange={(e) => onChange({ value: e.target.value })}
            className={cx(INPUT, ring(invalid), "w-32 tabular-nums")}
          />
          <Unit>{unit}</Unit>
        </div>
      );
    case "numberRange":
      return (
        <div className="flex min-w-0 items-center gap-2">
          <input
            aria-label="From"
            inputMode="decimal"
            placeholder="From"
            value={condition.value}
            disabled={disabled}
            onChange={(e) => onChange({ value: e.target.value })}
            className={cx(INPUT, ring(invalid), "w-28 tabular-nums")}
          />
          <span className="text-[13px] text-zinc-500">and</span>
          <input
            aria-label="To"
            inputMode="decimal"
            placeholder="To"
            value={condition.valueTo}
            disabled={disabled}
            onChange={(e) => onChange({ valueTo: e.target.value })}
            className={cx(INPUT, ring(invalid), "w-28 tabular-nums")}
          />
          <Unit>{unit}</Unit>
        </div>
      );
    case "numbers":
      return (
        <TagInput
          label="Values"
          values={condition.items}
          onChange={(items) => onChange({ items })}
          normalize={(t) => t.trim().replace(/[\s,]/g, "")}
          inputMode="decimal"
          placeholder="Type a number, press Enter"
          invalid={invalid}
          disabled={disabled}
          className="min-w-48 flex-1"
        />
      );
    case "text":
      if (field.valuesExhaustive) {
        return (
          <select
            aria-label="Value"
            value={condition.value}
            disabled={disabled}
            onChange={(e) => onChange({ value: e.target.value })}
            className={cx(INPUT, ring(invalid), "min-w-44 pr-8")}
          >
            <option value="">Choose…</option>
            {field.values.map((v) => (
              <option key={v} value={v}>
                {displayValue(v)}
              </option>
            ))}
          </select>
        );
      }
      return (
        <>
          <input
            aria-label="Value"
            list={field.values.length > 0 ? listId : undefined}
            placeholder={field.values[0] ? `e.g. ${field.values[0]}` : "Text"}
            value={condition.value}
            disabled={disabled}
            onChange={(e) => onChange({ value: e.target.value })}
            className={cx(INPUT, ring(invalid), "w-48 min-w-0")}
          />
          {field.values.length > 0 && (
            <datalist id={listId}>
              {field.values.map((v) => (
                <option key={v} value={v} />
              ))}
            </datalist>
          )}
        </>
      );
    case "texts":
      return (
        <TagInput
          label="Values"
          values={condition.items}
          onChange={(items) => onChange({ items })}
          suggestions={field.values}
          exhaustive={field.valuesExhaustive}
          normalize={field.type === FieldType.LIST ? slug : (t) => t.trim()}
          display={field.valuesExhaustive ? displayValue : undefined}
          placeholder={field.type === FieldType.LIST ? "Type a value, press Enter" : "Type and press Enter"}
          invalid={invalid}
          disabled={disabled}
          className="min-w-48 flex-1"
        />
      );
    case "date":
      return (
        <input
          type="date"
          aria-label="Date"
          value={condition.value}
          disabled={disabled}
          onChange={(e) => onChange({ value: e.target.value })}
          className={cx(INPUT, ring(invalid), "w-44")}
        />
      );
    case "dateRange":
      return (
        <div className="flex min-w-0 items-center gap-2">
          <input
            type="date"
            aria-label="From"
            value={condition.value}
            disabled={disabled}
            onChange={(e) => onChange({ value: e.target.value })}
            className={cx(INPUT, ring(invalid), "w-44")}
          />
          <span className="text-[13px] text-zinc-500">and</span>
          <input
            type="date"
            aria-label="To"
            value={condition.valueTo}
            disabled={disabled}
            onChange={(e) => onChange({ valueTo: e.target.value })}
            className={cx(INPUT, ring(invalid), "w-44")}
          />
        </div>
      );
    case "days":
      return (
        <div className="flex items-center gap-2">
          <input
            aria-label="Days"
            inputMode="numeric"
            placeholder="30"
            value={condition.value}
            disabled={disabled}
            onChange={(e) => onChange({ value: e.target.value.replace(/[^\d]/g, "") })}
            className={cx(INPUT, ring(invalid), "w-24 tabular-nums")}
          />
          <span className="text-[13px] text-zinc-500">{condition.operator === Operator.MORE_THAN_DAYS_AGO ? "days ago" : "days"}</span>
        </div>
      );
    case "flag":
      return (
        <select
          aria-label="Value"
          value={condition.value === "false" ? "false" : "true"}
          disabled={disabled}
          onChange={(e) => onChange({ value: e.target.value })}
          className={cx(INPUT, ring(invalid), "w-28 pr-8")}
        >
          <option value="true">Yes</option>
          <option value="false">No</option>
        </select>
      );
    case "cohort":
      return (
        <select
          aria-label="Cohort"
          value={condition.value}
          disabled={disabled}
          onChange={(e) => onChange({ value: e.target.value })}
          className={cx(INPUT, ring(invalid), "min-w-56 pr-8")}
        >
          <option value="">{cohorts.length ? "Choose a cohort…" : "No saved cohorts yet"}</option>
          {condition.value && !cohorts.some((c) => c.id === condition.value) && <option value={condition.value}>Cohort #{condition.value}</option>}
          {cohorts.map((c) => (
            <option key={c.id} value={c.id}>
              {c.hint ? `${c.name} (${c.hint})` : c.name}
            </option>
          ))}
        </select>
      );
    case "amplitudeCohort":
      if (amplitudeCohorts.length === 0) {
        return (
          <input
            aria-label="Amplitude cohort"
            placeholder="Amplitude cohort id"
            value={condition.value}
            disabled={disabled}
            onChange={(e) => onChange({ value: e.target.value })}
            className={cx(INPUT, ring(invalid), "w-56")}
          />
        );
      }
      return (
        <select
          aria-label="Amplitude cohort"
          value={condition.value}
          disabled={disabled}
          onChange={(e) => onChange({ value: e.target.value })}
          className={cx(INPUT, ring(invalid), "min-w-56 pr-8")}
        >
          <option value="">Choose an imported cohort…</option>
          {condition.value && !amplitudeCohorts.some((c) => c.id === condition.value) && <option value={condition.value}>{condition.value}</option>}
          {amplitudeCohorts.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      );
  }
}
