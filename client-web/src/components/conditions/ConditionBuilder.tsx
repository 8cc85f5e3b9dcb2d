import { useMemo, useState, type ReactNode } from "react";
import { AlertCircle, FolderPlus, Plus, Trash2, X } from "lucide-react";
import { Combinator } from "../../gen/cdp/v1/common_pb";
import type { UserField } from "../../gen/cdp/v1/users_pb";
import {
  appendTo,
  emptyCondition,
  emptyGroup,
  groupLabel,
  MAX_DEPTH,
  operatorLabel,
  removeNode,
  updateNode,
  withField,
  withOperator,
  type DraftCondition,
  type DraftGroup,
  type DraftNode,
} from "../../lib/conditions";
import { Button } from "../Button";
import { InfoTip } from "../InfoTip";
import { SegmentedControl } from "../SegmentedControl";
import { cx } from "../cx";
import { ValueInput, type AmplitudeChoice, type CohortChoice } from "./ValueInput";

export type { AmplitudeChoice, CohortChoice } from "./ValueInput";

export interface ConditionBuilderProps {
  value: DraftGroup;
  onChange: (next: DraftGroup) => void;
  /** The field catalogue (UserService.ListUserFields). */
  fields: readonly UserField[];
  /** Saved cohorts for "is a member of". */
  cohorts?: readonly CohortChoice[];
  /** Imported Amplitude cohorts for "is in Amplitude cohort". */
  amplitudeCohorts?: readonly AmplitudeChoice[];
  /** Conditions that are not complete yet, by node id (shown as hints). */
  problems?: ReadonlyMap<string, string>;
  /** What the server refused, by node id (shown as errors). */
  errors?: ReadonlyMap<string, string>;
  /** Something to show at the end of a top-level node's row (e.g. users remaining). */
  topLevelAside?: (node: DraftNode, index: number) => ReactNode;
  disabled?: boolean;
  /** Accessible name of the whole builder. */
  label?: string;
}

const COMBINATOR_OPTIONS = [
  { value: "and", label: "All", title: "Every condition must match (AND)" },
  { value: "or", label: "Any", title: "At least one condition must match (OR)" },
] as const;

const SELECT =
  "h-9 rounded-lg border-0 bg-white pr-8 pl-3 text-sm text-zinc-900 shadow-xs ring-1 ring-zinc-300 ring-inset focus:ring-2 focus:ring-brand-500 focus:ring-inset focus:outline-none disabled:bg-zinc-50 disabled:text-zinc-500";

interface Ctx extends ConditionBuilderProps {
  fieldsByName: ReadonlyMap<string, UserField>;
  groups: [string, UserField[]][];
  focusId: string | null;
  setFocusId: (id: string | null) => void;
}

function FieldSelect({ ctx, condition, autoFocus }: { ctx: Ctx; condition: DraftCondition; autoFocus: boolean }) {
  const known = ctx.fieldsByName.has(condition.field);
  return (
    <select
      aria-label="Field"
      autoFocus={autoFocus}
      value={condition.field}
      disabled={ctx.disabled}
      onChange={(e) => ctx.onChange(updateNode(ctx.value, condition.id, (n) => withField(n as DraftCondition, ctx.fieldsByName.get(e.target.value))))}
      className={cx(SELECT, "w-48 min-w-0", !condition.field && "text-zinc-400")}
    >
      <option value="">Choose a field…</option>
      {!known && condition.field && <option value={condition.field}>{condition.field}</option>}
      {ctx.groups.map(([group, fields]) => (
        <optgroup key={group} label={groupLabel(group)}>
          {fields.map((f) => (
            <option key={f.name} value={f.name}>
              {f.label}
            </option>
          ))}
        </optgroup>
      ))}
    </select>
  );
}

function ConditionRow({ ctx, condition, index }: { ctx: Ctx; condition: DraftCondition; index: number }) {
  const field = ctx.fieldsByName.get(condition.field);
  const error = ctx.errors?.get(condition.id);
  const problem = ctx.problems?.get(condition.id);
  const patch = (p: Partial<DraftCondition>) => ctx.onChange(updateNode(ctx.value, condition.id, (n) => ({ ...(n as DraftCondition), ...p })));
  return (
    <div data-testid="condition" role="group" aria-label={`Condition ${index + 1}`} className="py-1">
      <div className={cx("flex items-start gap-2 rounded-lg bg-white p-2 ring-1 ring-inset", error ? "ring-red-300" : "ring-zinc-200")}>
        <div className="flex min-w-0 flex-1 flex-wrap items-center gap-2">
        <FieldSelect ctx={ctx} condition={condition} autoFocus={ctx.focusId === condition.id} />
        {field && (
          <>
            <select
              aria-label="Comparison"
              value={condition.operator}
              disabled={ctx.disabled}
              onChange={(e) => ctx.onChange(updateNode(ctx.value, condition.id, (n) => withOperator(n as DraftCondition, Number(e.target.value), field.type)))}
              className={cx(SELECT, "w-44")}
            >
              {field.operators.map((op) => (
                <option key={op} value={op}>
                  {operatorLabel(op, field.type)}
                </option>
              ))}
            </select>
            <ValueInput
              condition={condition}
              field={field}
              onChange={patch}
              cohorts={ctx.cohorts}
              amplitudeCohorts={ctx.amplitudeCohorts}
              invalid={Boolean(error)}
              disabled={ctx.disabled}
            />
          </>
        )}
        </div>
        {field && (
          <span className="mt-2.5">
            <InfoTip content={field.description} label={`About ${field.label}`} side="top" />
          </span>
        )}
        {!ctx.disabled && (
          <button
            type="button"
            aria-label="Remove condition"
            title="Remove condition"
            onClick={() => ctx.onChange(removeNode(ctx.value, condition.id))}
            className="mt-0.5 rounded-md p-1.5 text-zinc-400 hover:bg-red-50 hover:text-red-600"
          >
            <Trash2 className="size-4" />
          </button>
        )}
      </div>
      {(error || problem) && (
        <p className={cx("mt-1 flex items-center gap-1 pl-1 text-xs", error ? "text-red-600" : "text-amber-700")}>
          <AlertCircle className="size-3.5" aria-hidden />
          {error ?? problem}
        </p>
      )}
    </div>
  );
}

function Connector({ combinator, aside }: { combinator?: Combinator; aside?: ReactNode }) {
  if (combinator === undefined && !aside) return null;
  return (
    <div className="flex min-h-6 items-center gap-3 py-0.5 pl-4">
      {combinator !== undefined && (
      <span
        aria-hidden
        className={cx(
          "rounded px-1.5 py-px text-[10.5px] font-semibold tracking-wider",
          combinator === Combinator.OR ? "bg-amber-100 text-amber-800" : "bg-brand-100 text-brand-700",
        )}
      >
        {combinator === Combinator.OR ? "OR" : "AND"}
      </span>
      )}
      {aside && <span className="ml-auto">{aside}</span>}
    </div>
  );
}

function GroupView({ ctx, group, depth, index }: { ctx: Ctx; group: DraftGroup; depth: number; index: number }) {
  const nested = depth > 0;
  const error = ctx.errors?.get(group.id);
  const problem = ctx.problems?.get(group.id);
  const canNest = depth + 1 < MAX_DEPTH;
  const setCombinator = (v: "and" | "or") =>
    ctx.onChange(updateNode(ctx.value, group.id, (g) => ({ ...(g as DraftGroup), combinator: v === "or" ? Combinator.OR : Combinator.AND })));
  const addCondition = () => {
    const cond = emptyCondition();
    ctx.setFocusId(cond.id);
    ctx.onChange(appendTo(ctx.value, group.id, cond));
  };
  const addGroup = () => {
    const cond = emptyCondition();
    // A nested group usually says the other thing: "A and (B or C)".
    const inner: DraftGroup = { ...emptyGroup(group.combinator === Combinator.OR ? Combinator.AND : Combinator.OR), nodes: [cond] };
    ctx.setFocusId(cond.id);
    ctx.onChange(appendTo(ctx.value, group.id, inner));
  };

  return (
    <div
      role="group"
      aria-label={nested ? `Group ${index + 1}` : ctx.label ?? "Conditions"}
      data-testid={nested ? "condition-group" : "condition-root"}
      className={cx(
        nested && "rounded-xl border-l-4 py-2 pr-2 pl-3 ring-1 ring-inset",
        nested && (group.combinator === Combinator.OR ? "border-l-amber-400 bg-amber-50/40 ring-amber-200/70" : "border-l-brand-400 bg-brand-50/40 ring-brand-200/70"),
        nested && error && "ring-red-300",
      )}
    >
      <div className="flex flex-wrap items-center gap-2 pb-1.5">
        <span className="text-[13px] text-zinc-600">{nested ? "Match" : "Users who match"}</span>
        <SegmentedControl
          label={nested ? `Group ${index + 1} combines with` : "Conditions combine with"}
          size="sm"
          options={COMBINATOR_OPTIONS}
          value={group.combinator === Combinator.OR ? "or" : "and"}
          onChange={setCombinator}
          disabled={ctx.disabled}
        />
        <span className="text-[13px] text-zinc-600">of {nested ? "these" : "the following"} conditions</span>
        <div className="ml-auto flex items-center gap-2">
          {nested && !ctx.disabled && (
            <button
              type="button"
              aria-label="Remove group"
              title="Remove group"
              onClick={() => ctx.onChange(removeNode(ctx.value, group.id))}
              className="rounded-md p-1.5 text-zinc-400 hover:bg-red-50 hover:text-red-600"
            >
              <X className="size-4" />
            </button>
          )}
        </div>
      </div>

      {group.nodes.length === 0 && !nested && (
        <p className="rounded-lg border border-dashed border-zinc-300 bg-zinc-50/60 px-4 py-6 text-center text-[13px] text-zinc-500">
          No conditions yet: {group.combinator === Combinator.OR ? "nobody matches." : "every user matches."} Add a condition to narrow it down.
        </p>
      )}

      <div>
        {group.nodes.map((node, i) => (
          <div key={node.id}>
            {i > 0 && <Connector combinator={group.combinator} aside={depth === 0 ? ctx.topLevelAside?.(group.nodes[i - 1], i - 1) : undefined} />}
            {node.type === "group" ? (
              <div className="py-1">
                <GroupView ctx={ctx} group={node} depth={depth + 1} index={i} />
              </div>
            ) : (
              <ConditionRow ctx={ctx} condition={node} index={i} />
            )}
          </div>
        ))}
        {depth === 0 && group.nodes.length > 0 && <Connector aside={ctx.topLevelAside?.(group.nodes[group.nodes.length - 1], group.nodes.length - 1)} />}
      </div>

      {(error || problem) && (
        <p className={cx("mt-1 flex items-center gap-1 pl-1 text-xs", error ? "text-red-600" : "text-amber-700")}>
          <AlertCircle className="size-3.5" aria-hidden />
          {error ?? problem}
        </p>
      )}

      {!ctx.disabled && (
        <div className="flex flex-wrap gap-1 pt-2">
          <Button size="sm" variant="ghost" icon={<Plus className="size-4" />} onClick={addCondition}>
            Add condition
          </Button>
          {canNest && (
            <Button size="sm" variant="ghost" icon={<FolderPlus className="size-4" />} onClick={addGroup}>
              Add group
            </Button>
          )}
        </div>
      )}
    </div>
  );
}

/**
 * The visual AND/OR builder over the field catalogue: nested groups, a field picker grouped
 * as the catalogue groups fields, the field's operators, and a typed input per operator.
 * Controlled: `value` is a draft tree (lib/conditions) and every edit calls `onChange`.
 */
export function ConditionBuilder(props: ConditionBuilderProps) {
  const [focusId, setFocusId] = useState<string | null>(null);
  const { fields } = props;
  const fieldsByName = useMemo(() => new Map(fields.map((f) => [f.name, f])), [fields]);
  const groups = useMemo(() => {
    const byGroup = new Map<string, UserField[]>();
    for (const f of fields) {
      const list = byGroup.get(f.group) ?? [];
      list.push(f);
      byGroup.set(f.group, list);
    }
    return [...byGroup.entries()];
  }, [fields]);
  const ctx: Ctx = { ...props, fieldsByName, groups, focusId, setFocusId };
  return <GroupView ctx={ctx} group={props.value} depth={0} index={0} />;
}
