import { useId, type ReactNode, type Ref, type TextareaHTMLAttributes } from "react";
import { cx } from "./cx";

export interface TextAreaFieldProps extends Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, "id"> {
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  containerClassName?: string;
  ref?: Ref<HTMLTextAreaElement>;
}

/** A labelled multi-line text input with a hint or an error below (like TextField). */
export function TextAreaField({ label, hint, error, containerClassName, className, ...area }: TextAreaFieldProps) {
  const id = useId();
  return (
    <div className={cx("space-y-1.5", containerClassName)}>
      <label htmlFor={id} className="block text-[13px] font-medium text-zinc-800">
        {label}
      </label>
      <textarea
        id={id}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : hint ? `${id}-hint` : undefined}
        className={cx(
          "block w-full rounded-lg border-0 bg-white px-3 py-2 text-sm text-zinc-900 shadow-xs ring-1 ring-inset placeholder:text-zinc-400 focus:ring-2 focus:ring-inset focus:outline-none disabled:cursor-not-allowed disabled:bg-zinc-50 disabled:text-zinc-500",
          error ? "ring-red-400 focus:ring-red-500" : "ring-zinc-300 focus:ring-brand-500",
          className,
        )}
        {...area}
      />
      {error ? (
        <p id={`${id}-error`} className="text-[13px] text-red-600">
          {error}
        </p>
      ) : hint ? (
        <p id={`${id}-hint`} className="text-[13px] text-zinc-500">
          {hint}
        </p>
      ) : null}
    </div>
  );
}
