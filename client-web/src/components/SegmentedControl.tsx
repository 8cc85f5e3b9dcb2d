import { cx } from "./cx";

export interface SegmentOption<T extends string> {
  value: T;
  label: string;
  title?: string;
}

/** A row of mutually exclusive buttons (bucket size, measure, AND/OR). */
export function SegmentedControl<T extends string>({
  label,
  options,
  value,
  onChange,
  size = "md",
  className,
  disabled,
}: {
  /** Accessible name of the group. */
  label: string;
  options: readonly SegmentOption<T>[];
  value: T;
  onChange: (value: T) => void;
  size?: "sm" | "md";
  className?: string;
  disabled?: boolean;
}) {
  return (
    <div role="radiogroup" aria-label={label} className={cx("inline-flex rounded-lg bg-zinc-100 p-0.5 ring-1 ring-zinc-200/70 ring-inset", className)}>
      {options.map((o) => {
        const active = o.value === value;
        return (
          <button
            key={o.value}
            type="button"
            role="radio"
            aria-checked={active}
            title={o.title}
            disabled={disabled}
            onClick={() => onChange(o.value)}
            className={cx(
              "rounded-md font-medium whitespace-nowrap transition-colors disabled:cursor-not-allowed disabled:opacity-60",
              size === "sm" ? "px-2.5 py-1 text-xs" : "px-3 py-1.5 text-[13px]",
              active ? "bg-white text-zinc-900 shadow-xs ring-1 ring-zinc-200" : "text-zinc-500 hover:text-zinc-800",
            )}
          >
            {o.label}
          </button>
        );
      })}
    </div>
  );
}
