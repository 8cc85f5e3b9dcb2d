import type { ReactNode } from "react";
import { cx } from "./cx";

export interface TabItem<T extends string> {
  id: T;
  label: ReactNode;
  /** A count shown beside the label. */
  count?: ReactNode;
}

/** A row of tabs under a page header; the page decides where the current tab lives (the URL). */
export function Tabs<T extends string>({ label, tabs, current, onChange }: { label: string; tabs: readonly TabItem<T>[]; current: T; onChange: (id: T) => void }) {
  return (
    <div role="tablist" aria-label={label} className="mb-4 flex gap-1 overflow-x-auto border-b border-zinc-200">
      {tabs.map((t) => {
        const active = t.id === current;
        return (
          <button
            key={t.id}
            type="button"
            role="tab"
            aria-selected={active}
            onClick={() => onChange(t.id)}
            className={cx(
              "-mb-px inline-flex items-center gap-2 border-b-2 px-3 py-2.5 text-sm font-medium whitespace-nowrap transition-colors",
              active ? "border-brand-600 text-brand-700" : "border-transparent text-zinc-500 hover:border-zinc-300 hover:text-zinc-800",
            )}
          >
            {t.label}
            {t.count !== undefined && (
              <span className={cx("rounded-full px-1.5 text-[11px] font-semibold tabular-nums", active ? "bg-brand-100 text-brand-700" : "bg-zinc-100 text-zinc-600")}>{t.count}</span>
            )}
          </button>
        );
      })}
    </div>
  );
}
