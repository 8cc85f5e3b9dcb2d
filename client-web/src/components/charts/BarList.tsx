import type { ReactNode } from "react";
import { Link } from "react-router";
import { ChevronRight } from "lucide-react";
import { cx } from "../cx";

export interface BarListItem {
  key: string;
  label: ReactNode;
  value: number;
  /** The value as shown. */
  display: ReactNode;
  /** Secondary text under or beside the label. */
  hint?: ReactNode;
  /** Where a click on the row leads (drill-down). */
  href?: string;
  /** Accessible name of the drill-down link. */
  linkLabel?: string;
  color?: string;
}

/** Horizontal bars in rows: readable labels, values on the right, optional drill-down links. */
export function BarList({ items, label, className }: { items: readonly BarListItem[]; label: string; className?: string }) {
  const max = Math.max(0, ...items.map((i) => i.value)) || 1;
  return (
    <ul aria-label={label} className={cx("space-y-1.5", className)}>
      {items.map((item) => {
        const width = `${Math.max(1.5, (item.value / max) * 100)}%`;
        const body = (
          <>
            <div className="relative min-w-0 flex-1">
              <div
                aria-hidden
                className="absolute inset-y-0 left-0 rounded-md opacity-[0.13] transition-opacity group-hover:opacity-20"
                style={{ width, background: item.color ?? "#4f46e5" }}
              />
              <div className="relative flex min-w-0 items-baseline gap-2 px-2.5 py-1.5">
                <span className="truncate text-[13px] font-medium text-zinc-800">{item.label}</span>
                {item.hint && <span className="truncate text-xs text-zinc-500">{item.hint}</span>}
              </div>
            </div>
            <span className="w-20 shrink-0 text-right text-[13px] font-medium text-zinc-900 tabular-nums">{item.display}</span>
            {item.href && <ChevronRight aria-hidden className="size-4 shrink-0 text-zinc-300 group-hover:text-zinc-500" />}
          </>
        );
        return (
          <li key={item.key}>
            {item.href ? (
              <Link to={item.href} aria-label={item.linkLabel} className="group -mx-1 flex items-center gap-3 rounded-lg px-1 hover:bg-zinc-50">
                {body}
              </Link>
            ) : (
              <div className="group flex items-center gap-3">{body}</div>
            )}
          </li>
        );
      })}
    </ul>
  );
}
