import { useId, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { Check, X } from "lucide-react";
import { cx } from "./cx";

export interface TagInputProps {
  /** Accessible name of the text box. */
  label: string;
  values: readonly string[];
  onChange: (values: string[]) => void;
  /** Known values offered while typing (or as toggles when `exhaustive`). */
  suggestions?: readonly string[];
  /** The suggestions are the complete set: show them as toggles, accept nothing else. */
  exhaustive?: boolean;
  /** Turns typed text into a value (e.g. lowercase slugs); return "" to refuse it. */
  normalize?: (text: string) => string;
  placeholder?: string;
  invalid?: boolean;
  disabled?: boolean;
  className?: string;
  /** Shown for a value instead of the raw text (e.g. "About to churn" for `about_to_churn`). */
  display?: (value: string) => string;
  inputMode?: "text" | "decimal" | "numeric";
}

/** Several values as chips: Enter or comma adds what was typed, Backspace removes the last. */
export function TagInput({
  label,
  values,
  onChange,
  suggestions = [],
  exhaustive = false,
  normalize = (t) => t.trim(),
  placeholder = "Type and press Enter",
  invalid,
  disabled,
  className,
  display = (v) => v,
  inputMode,
}: TagInputProps) {
  const [text, setText] = useState("");
  const [focused, setFocused] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  const listId = useId();

  const matches = useMemo(() => {
    const t = text.trim().toLowerCase();
    return suggestions.filter((s) => !values.includes(s) && (!t || s.toLowerCase().includes(t))).slice(0, 8);
  }, [suggestions, values, text]);

  if (exhaustive) {
    return (
      <div role="group" aria-label={label} className={cx("flex flex-wrap gap-1.5", className)}>
        {suggestions.map((s) => {
          const on = values.includes(s);
          return (
            <button
              key={s}
              type="button"
              aria-pressed={on}
              disabled={disabled}
              onClick={() => onChange(on ? values.filter((v) => v !== s) : [...values, s])}
              className={cx(
                "inline-flex h-8 items-center gap-1 rounded-md px-2.5 text-[13px] font-medium ring-1 transition-colors ring-inset",
                on ? "bg-brand-50 text-brand-700 ring-brand-300" : "bg-white text-zinc-600 ring-zinc-300 hover:bg-zinc-50",
                invalid && !on && "ring-red-300",
              )}
            >
              {on && <Check className="size-3.5" />}
              {display(s)}
            </button>
          );
        })}
      </div>
    );
  }

  const add = (raw: string) => {
    const parts = raw.split(",").map(normalize).filter(Boolean);
    const next = [...values];
    for (const p of parts) if (!next.includes(p)) next.push(p);
    if (next.length !== values.length) onChange(next);
    setText("");
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if ((e.key === "Enter" || e.key === ",") && text.trim()) {
      e.preventDefault();
      add(text);
    } else if (e.key === "Enter") {
      e.preventDefault();
    } else if (e.key === "Backspace" && !text && values.length > 0) {
      onChange(values.slice(0, -1));
    }
  };

  return (
    <div className={cx("relative", className)}>
      <div
        onClick={() => inputRef.current?.focus()}
        className={cx(
          "flex min-h-9 w-full flex-wrap items-center gap-1 rounded-lg bg-white px-1.5 py-1 shadow-xs ring-1 ring-inset",
          invalid ? "ring-red-400" : focused ? "ring-2 ring-brand-500" : "ring-zinc-300",
          disabled && "cursor-not-allowed bg-zinc-50",
        )}
      >
        {values.map((v) => (
          <span key={v} className="inline-flex h-6 items-center gap-1 rounded-md bg-zinc-100 pr-1 pl-2 text-[12.5px] font-medium text-zinc-700 ring-1 ring-zinc-200 ring-inset">
            {display(v)}
            {!disabled && (
              <button
                type="button"
                aria-label={`Remove ${display(v)}`}
                onClick={(e) => {
                  e.stopPropagation();
                  onChange(values.filter((x) => x !== v));
                }}
                className="rounded p-0.5 text-zinc-400 hover:bg-zinc-200 hover:text-zinc-700"
              >
                <X className="size-3" />
              </button>
            )}
          </span>
        ))}
        <input
          ref={inputRef}
          aria-label={label}
          aria-invalid={invalid || undefined}
          aria-autocomplete="list"
          aria-controls={listId}
          value={text}
          disabled={disabled}
          inputMode={inputMode}
          placeholder={values.length === 0 ? placeholder : undefined}
          onChange={(e) => {
            const v = e.target.value;
            if (v.includes(",")) add(v);
            else setText(v);
          }}
          onKeyDown={onKeyDown}
          onFocus={() => setFocused(true)}
          onBlur={() => {
            setFocused(false);
            if (text.trim()) add(text);
          }}
          className="h-7 min-w-12 flex-1 border-0 bg-transparent px-1 text-sm text-zinc-900 placeholder:text-zinc-400 focus:outline-none"
        />
      </div>
      {focused && matches.length > 0 && (
        <ul id={listId} role="listbox" aria-label={`${label} suggestions`} className="absolute z-20 mt-1 max-h-56 w-full min-w-48 overflow-auto rounded-lg bg-white py-1 text-[13px] shadow-lg ring-1 ring-zinc-900/10">
          {matches.map((s) => (
            <li key={s} role="option" aria-selected={false}>
              <button
                type="button"
                // Runs before the input's blur, which would otherwise add the half-typed text.
                onMouseDown={(e) => {
                  e.preventDefault();
                  add(s);
                }}
                className="w-full px-3 py-1.5 text-left text-zinc-700 hover:bg-zinc-50"
              >
                {display(s)}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
