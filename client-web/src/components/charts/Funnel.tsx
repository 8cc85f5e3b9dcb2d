import type { ReactNode } from "react";
import { formatNumber, formatPercent } from "../../lib/numbers";
import { InfoTip } from "../InfoTip";

export interface FunnelStage {
  key: string;
  label: string;
  users: number;
  /** Share of the first stage (0..1). */
  fromStart: number;
  /** Share of the stage before (0..1). */
  fromPrevious: number;
  definition?: string;
  /** Extra words under the bar (e.g. the previous period). */
  note?: ReactNode;
}

/** Stages as decreasing bars, with the conversion from the start and from the stage before. */
export function Funnel({ stages, label }: { stages: readonly FunnelStage[]; label: string }) {
  return (
    <ol aria-label={label} className="space-y-3">
      {stages.map((s, i) => (
        <li key={s.key}>
          <div className="mb-1 flex items-baseline justify-between gap-3 text-[13px]">
            <span className="flex items-center gap-1.5 font-medium text-zinc-800">
              <span className="flex size-5 items-center justify-center rounded-full bg-zinc-100 text-[11px] font-semibold text-zinc-500">{i + 1}</span>
              {s.label}
              <InfoTip content={s.definition} label={`What ${s.label} means`} />
            </span>
            <span className="text-zinc-500 tabular-nums">
              <span className="font-semibold text-zinc-900">{formatNumber(s.users)}</span>
              {i > 0 && <span className="ml-2">{formatPercent(s.fromPrevious)} of previous step</span>}
            </span>
          </div>
          <div className="h-6 overflow-hidden rounded-md bg-zinc-100">
            <div
              className="flex h-full items-center justify-end rounded-md bg-gradient-to-r from-brand-500 to-brand-400 pr-2 text-[11px] font-semibold text-white"
              style={{ width: `${Math.max(2, s.fromStart * 100)}%` }}
            >
              {s.fromStart >= 0.12 ? formatPercent(s.fromStart) : null}
            </div>
          </div>
          {s.note && <p className="mt-1 text-xs text-zinc-500">{s.note}</p>}
        </li>
      ))}
    </ol>
  );
}
