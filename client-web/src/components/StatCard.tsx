import type { ReactNode } from "react";
import { ArrowDownRight, ArrowRight, ArrowUpRight } from "lucide-react";
import { formatChange } from "../lib/numbers";
import { InfoTip } from "./InfoTip";
import { cx } from "./cx";

/**
 * A change against the previous period, coloured by whether it is good news: `higherIsBetter`
 * is false for figures such as churn, where a rise is bad.
 */
export function ChangeBadge({
  ratio,
  higherIsBetter = true,
  previous,
  className,
}: {
  ratio: number | undefined;
  higherIsBetter?: boolean;
  /** The previous period's value, formatted, for the title. */
  previous?: string;
  className?: string;
}) {
  if (ratio === undefined || !Number.isFinite(ratio)) {
    return <span className={cx("text-xs text-zinc-400", className)}>No previous data</span>;
  }
  const flat = Math.abs(ratio) < 0.0005;
  const good = flat ? undefined : ratio > 0 === higherIsBetter;
  const Icon = flat ? ArrowRight : ratio > 0 ? ArrowUpRight : ArrowDownRight;
  return (
    <span
      title={previous ? `Previous period: ${previous}` : undefined}
      className={cx(
        "inline-flex items-center gap-0.5 rounded-md px-1.5 py-0.5 text-xs font-semibold tabular-nums",
        good === undefined ? "bg-zinc-100 text-zinc-600" : good ? "bg-emerald-50 text-emerald-700" : "bg-red-50 text-red-700",
        className,
      )}
    >
      <Icon className="size-3.5" aria-hidden />
      {formatChange(ratio)}
    </span>
  );
}

/** A headline figure: label with its definition, the value, and the change on the previous period. */
export function StatCard({
  label,
  value,
  definition,
  changeRatio,
  previous,
  higherIsBetter = true,
  footer,
  className,
  emphasis = false,
  testId,
  compare = false,
}: {
  label: string;
  value: ReactNode;
  definition?: ReactNode;
  changeRatio?: number;
  previous?: string;
  higherIsBetter?: boolean;
  footer?: ReactNode;
  className?: string;
  emphasis?: boolean;
  testId?: string;
  /** Always show the comparison with the previous period ("No previous data" when there is none). */
  compare?: boolean;
}) {
  return (
    <section
      data-testid={testId}
      aria-label={label}
      className={cx("flex flex-col rounded-xl border border-zinc-200 bg-white px-4 py-3.5 shadow-xs", className)}
    >
      <div className="flex items-center gap-1.5">
        <h3 className="truncate text-[13px] font-medium text-zinc-500">{label}</h3>
        <InfoTip content={definition} label={`What ${label} means`} />
      </div>
      <p className={cx("mt-1.5 font-semibold tracking-tight text-zinc-900 tabular-nums", emphasis ? "text-3xl" : "text-2xl")}>{value}</p>
      <div className="mt-2 flex min-h-5 items-center gap-2 text-xs text-zinc-500">
        {compare || changeRatio !== undefined || previous !== undefined ? (
          <>
            <ChangeBadge ratio={changeRatio} higherIsBetter={higherIsBetter} previous={previous} />
            {previous !== undefined && <span className="truncate">vs {previous}</span>}
          </>
        ) : null}
        {footer}
      </div>
    </section>
  );
}
