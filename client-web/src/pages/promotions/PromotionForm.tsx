import { useId, useState, type FormEvent, type ReactNode } from "react";
import { BadgePercent, CalendarPlus, Gift, Moon, Percent, Puzzle } from "lucide-react";
import { fieldError, type FriendlyError } from "../../api/errors";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Card, CardHeader } from "../../components/Card";
import { SelectField, TextField } from "../../components/Field";
import { TextAreaField } from "../../components/TextArea";
import { cx } from "../../components/cx";
import { CodeMode, PromotionAudience, PromotionType } from "../../gen/cdp/v1/promotions_pb";
import { describeBenefit, grantsCredits, PROMOTION_TYPE_LABELS, PROMOTION_TYPES, PROMOTION_VALUE_UNITS } from "../../lib/labels";
import { validatePromotion, type EditableField, type PromotionDraft } from "./promotion-form";

export interface CohortOption {
  id: string;
  name: string;
  /** e.g. "1,204 users · dynamic". */
  hint: string;
  isStatic: boolean;
}

const TYPE_ICONS: Record<PromotionType, ReactNode> = {
  [PromotionType.UNSPECIFIED]: null,
  [PromotionType.BONUS_CREDITS]: <Gift className="size-4" />,
  [PromotionType.CREDIT_DISCOUNT_PERCENT]: <Percent className="size-4" />,
  [PromotionType.FREE_ADDON]: <Puzzle className="size-4" />,
  [PromotionType.FREE_LISTING_DAYS]: <CalendarPlus className="size-4" />,
  [PromotionType.OFFER_50]: <BadgePercent className="size-4" />,
  [PromotionType.OFFER_BARAKA]: <Moon className="size-4" />,
};

function RadioCards<T extends string | number>({
  legend,
  name,
  value,
  onChange,
  options,
  disabled,
  error,
  columns = 2,
}: {
  legend: string;
  name: string;
  value: T;
  onChange: (v: T) => void;
  options: readonly { value: T; title: string; text?: string; icon?: ReactNode }[];
  disabled?: boolean;
  error?: string;
  columns?: 2 | 3;
}) {
  return (
    <fieldset disabled={disabled}>
      <legend className="mb-1.5 text-[13px] font-medium text-zinc-800">{legend}</legend>
      <div className={cx("grid gap-2", columns === 3 ? "sm:grid-cols-3" : "sm:grid-cols-2")}>
        {options.map((o) => {
          const on = o.value === value;
          return (
            <label
              key={String(o.value)}
              className={cx(
                "flex cursor-pointer items-start gap-2.5 rounded-lg p-3 ring-1 ring-inset transition-colors",
                on ? "bg-brand-50/60 ring-brand-300" : "ring-zinc-200 hover:bg-zinc-50",
                disabled && "cursor-not-allowed opacity-60",
              )}
            >
              <input type="radio" name={name} className="sr-only" checked={on} onChange={() => onChange(o.value)} />
              {o.icon && <span className={cx("mt-0.5", on ? "text-brand-600" : "text-zinc-400")}>{o.icon}</span>}
              <span className="min-w-0">
                <span className="block text-[13px] font-medium text-zinc-900">{o.title}</span>
                {o.text && <span className="block text-xs text-zinc-500">{o.text}</span>}
              </span>
            </label>
          );
        })}
      </div>
      {error && <p className="mt-1.5 text-[13px] text-red-600">{error}</p>}
    </fieldset>
  );
}

function Section({ title, description, children }: { title: string; description?: string; children: ReactNode }) {
  return (
    <Card>
      <CardHeader title={title} description={description} />
      <div className="grid gap-4 px-5 py-4">{children}</div>
    </Card>
  );
}

export interface PromotionFormProps {
  draft: PromotionDraft;
  onChange: (draft: PromotionDraft) => void;
  cohorts: readonly CohortOption[];
  /** Add-on slugs the catalogue knows (suggestions for FREE_ADDON). */
  addons?: readonly string[];
  /** Fields the promotion's status still allows to change; all when creating. */
  editable?: ReadonlySet<EditableField>;
  /** Runs only when the form passes its checks; throw to show the server's refusal. */
  onSubmit: () => Promise<void>;
  onCancel: () => void;
  /** The server's refusal of the last submit, in words, with per-field messages. */
  failure?: FriendlyError | null;
  submitLabel: string;
  busy?: boolean;
  now?: Date;
}

/**
 * Create or edit a promotion: cohort and audience, benefit, codes, limits, window and TTL,
 * with the server's checks made as the person submits (same field paths as its BadRequest).
 */
export function PromotionForm({ draft, onChange, cohorts, addons = [], editable, onSubmit, onCancel, failure, submitLabel, busy, now }: PromotionFormProps) {
  const [tried, setTried] = useState(false);
  const addonList = useId();
  const set = (patch: Partial<PromotionDraft>) => onChange({ ...draft, ...patch });
  const can = (f: EditableField) => !editable || editable.has(f);
  const staticCohorts = new Set(cohorts.filter((c) => c.isStatic).map((c) => c.id));
  const local = validatePromotion(draft, { staticCohorts, editable, now });
  const shown: Record<string, string> = { ...(failure?.fieldErrors ?? {}), ...(tried ? local : {}) };
  const err = (field: string) => fieldError(shown, field);
  const unit = PROMOTION_VALUE_UNITS[draft.type];
  const valueNumber = Number(draft.value);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTried(true);
    if (Object.keys(local).length > 0) return;
    await onSubmit();
  };

  return (
    <form onSubmit={submit} noValidate aria-label="Promotion" className="space-y-4">
      {failure && (
        <Alert tone="error" title={failure.title}>
          {failure.message}
        </Alert>
      )}
      {tried && Object.keys(local).length > 0 && (
        <Alert tone="warning" title="Some fields need attention">
          {Object.keys(local).length === 1 ? "One field is" : `${Object.keys(local).length} fields are`} not valid yet; see the messages below.
        </Alert>
      )}

      <Section title="Campaign">
        <TextField label="Name" value={draft.name} disabled={!can("name")} onChange={(e) => set({ name: e.target.value })} error={err("name")} placeholder="e.g. Ramadan bonus credits" />
        <TextAreaField
          label="Description"
          rows={2}
          value={draft.description}
          disabled={!can("description")}
          onChange={(e) => set({ description: e.target.value })}
          error={err("description")}
          hint="Consumers may show it to end users."
        />
      </Section>

      <Section title="Audience" description="Who can redeem: the members of a cohort.">
        <SelectField
          label="Cohort"
          value={draft.cohortId}
          disabled={!can("cohort_id")}
          onChange={(e) => set({ cohortId: e.target.value })}
          placeholder={cohorts.length ? "Choose a cohort" : "No cohorts yet: build one first"}
          options={cohorts.map((c) => ({ value: c.id, label: `${c.name} — ${c.hint}` }))}
          error={err("cohort_id")}
        />
        <RadioCards
          legend="Audience"
          name="audience"
          value={draft.audience}
          disabled={!can("audience")}
          onChange={(audience) => set({ audience })}
          error={err("audience")}
          options={[
            { value: PromotionAudience.FROZEN, title: "Frozen", text: "The cohort's members at activation, fixed from then on." },
            { value: PromotionAudience.LIVE, title: "Live", text: "Follows each refresh of a dynamic cohort: joiners become eligible, leavers stop." },
          ]}
        />
      </Section>

      <Section title="Benefit" description={draft.value && Number.isFinite(valueNumber) && valueNumber > 0 ? `Each redemption grants: ${describeBenefit(draft.type, valueNumber, draft.addon)}.` : "What a redemption grants."}>
        <RadioCards
          legend="Type"
          name="type"
          columns={3}
          value={draft.type}
          disabled={!can("type")}
          onChange={(type) => set({ type, creditBudget: grantsCredits(type) ? draft.creditBudget : "" })}
          error={err("type")}
          options={PROMOTION_TYPES.map((t) => ({ value: t, title: PROMOTION_TYPE_LABELS[t], icon: TYPE_ICONS[t] }))}
        />
        <div className="grid gap-4 sm:grid-cols-2">
          <TextField
            label={`${unit.label}${unit.unit ? ` (${unit.unit})` : ""}`}
            inputMode="decimal"
            value={draft.value}
            disabled={!can("value")}
            onChange={(e) => set({ value: e.target.value })}
            error={err("value")}
            placeholder={draft.type === PromotionType.CREDIT_DISCOUNT_PERCENT ? "20" : "100"}
          />
          {draft.type === PromotionType.FREE_ADDON && (
            <>
              <TextField
                label="Add-on"
                list={addonList}
                value={draft.addon}
                disabled={!can("addon")}
                onChange={(e) => set({ addon: e.target.value.toLowerCase().replace(/\s+/g, "_") })}
                error={err("addon")}
                placeholder="e.g. pinning"
              />
              <datalist id={addonList}>
                {addons.map((a) => (
                  <option key={a} value={a} />
                ))}
              </datalist>
            </>
          )}
        </div>
      </Section>

      <Section title="Codes">
        <RadioCards
          legend="How codes are issued"
          name="code_mode"
          value={draft.codeMode}
          disabled={!can("code_mode")}
          onChange={(codeMode) => set({ codeMode })}
          error={err("code_mode")}
          options={[
            { value: CodeMode.SHARED, title: "One shared code", text: "The same code for the whole audience." },
            { value: CodeMode.UNIQUE_PER_USER, title: "A code per user", text: "Generated at activation and synced to Braze." },
          ]}
        />
        {draft.codeMode !== CodeMode.UNIQUE_PER_USER && (
          <TextField
            label="Shared code"
            value={draft.code}
            disabled={!can("code")}
            onChange={(e) => set({ code: e.target.value.toUpperCase() })}
            error={err("code")}
            hint="4 to 32 letters, digits or -. Leave empty to have one generated."
            placeholder="RAMADAN-25"
            className="font-mono uppercase"
            containerClassName="max-w-sm"
          />
        )}
      </Section>

      <Section title="Limits" description="Leave a limit empty for no cap.">
        <div className="grid gap-4 sm:grid-cols-3">
          <TextField
            label="Total redemptions"
            inputMode="numeric"
            value={draft.totalRedemptions}
            disabled={!can("limits")}
            onChange={(e) => set({ totalRedemptions: e.target.value })}
            error={err("limits.total_redemptions")}
            placeholder="No cap"
          />
          <TextField
            label="Per user"
            inputMode="numeric"
            value={draft.perUser}
            disabled={!can("limits")}
            onChange={(e) => set({ perUser: e.target.value })}
            error={err("limits.per_user")}
            placeholder="1"
          />
          {grantsCredits(draft.type) && (
            <TextField
              label="Credit budget"
              inputMode="numeric"
              value={draft.creditBudget}
              disabled={!can("limits")}
              onChange={(e) => set({ creditBudget: e.target.value })}
              error={err("limits.credit_budget")}
              placeholder="No budget"
            />
          )}
        </div>
      </Section>

      <Section title="Schedule" description="The window in which codes can be redeemed, and how long an activation lives.">
        <div className="grid gap-4 sm:grid-cols-3">
          <TextField
            label="Starts"
            type="datetime-local"
            value={draft.startsAt}
            disabled={!can("starts_at")}
            onChange={(e) => set({ startsAt: e.target.value })}
            error={err("starts_at")}
            hint="Empty: at activation."
          />
          <TextField
            label="Ends"
            type="datetime-local"
            value={draft.endsAt}
            disabled={!can("ends_at")}
            onChange={(e) => set({ endsAt: e.target.value })}
            error={err("ends_at")}
            hint="Empty: start plus the TTL."
          />
          <div className="space-y-1.5">
            <div className="flex gap-2">
              <TextField
                label="Time to live"
                inputMode="numeric"
                value={draft.ttlValue}
                disabled={!can("ttl")}
                onChange={(e) => set({ ttlValue: e.target.value })}
                error={err("ttl")}
                placeholder="None"
                containerClassName="flex-1"
              />
              <SelectField
                label="Unit"
                hideLabel
                value={draft.ttlUnit}
                disabled={!can("ttl")}
                onChange={(e) => set({ ttlUnit: e.target.value as PromotionDraft["ttlUnit"] })}
                options={[
                  { value: "hours", label: "hours" },
                  { value: "days", label: "days" },
                ]}
                containerClassName="mt-[26px] w-28"
              />
            </div>
            {!err("ttl") && <p className="text-[13px] text-zinc-500">Also the expiry of its Redis keys.</p>}
          </div>
        </div>
      </Section>

      <div className="flex justify-end gap-2">
        <Button onClick={onCancel} disabled={busy}>
          Cancel
        </Button>
        <Button type="submit" variant="primary" loading={busy}>
          {submitLabel}
        </Button>
      </div>
    </form>
  );
}
