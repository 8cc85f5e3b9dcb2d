import { useId, type InputHTMLAttributes, type ReactNode, type Ref, type SelectHTMLAttributes } from "react";
import { cx } from "./cx";

const CONTROL =
  "block w-full rounded-lg border-0 bg-white text-sm text-zinc-900 shadow-xs ring-1 ring-inset placeholder:text-zinc-400 focus:ring-2 focus:ring-inset focus:outline-none disabled:cursor-not-allowed disabled:bg-zinc-50 disabled:text-zinc-500";

function controlClass(error: string | undefined): string {
  return cx(CONTROL, error ? "ring-red-400 focus:ring-red-500" : "ring-zinc-300 focus:ring-brand-500");
}

interface FieldFrameProps {
  id: string;
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  className?: string;
  children: ReactNode;
  labelAction?: ReactNode;
}

function FieldFrame({ id, label, hint, error, className, children, labelAction }: FieldFrameProps) {
  return (
    <div className={cx("space-y-1.5", className)}>
      <div className="flex items-baseline justify-between gap-2">
        <label htmlFor={id} className="block text-[13px] font-medium text-zinc-800">
          {label}
        </label>
        {labelAction}
      </div>
      {children}
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

export interface TextFieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, "id"> {
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  labelAction?: ReactNode;
  containerClassName?: string;
  leading?: ReactNode;
  ref?: Ref<HTMLInputElement>;
}

export function TextField({ label, hint, error, labelAction, containerClassName, className, leading, ...input }: TextFieldProps) {
  const id = useId();
  return (
    <FieldFrame id={id} label={label} hint={hint} error={error} className={containerClassName} labelAction={labelAction}>
      <div className="relative">
        {leading && (
          <span className="pointer-events-none absolute inset-y-0 left-0 flex items-center pl-3 text-zinc-400">
            {leading}
          </span>
        )}
        <input
          id={id}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : hint ? `${id}-hint` : undefined}
          className={cx(controlClass(error), "h-9 px-3", leading ? "pl-9" : undefined, className)}
          {...input}
        />
      </div>
    </FieldFrame>
  );
}

export interface SelectOption {
  value: string;
  label: string;
  disabled?: boolean;
}

export interface SelectFieldProps extends Omit<SelectHTMLAttributes<HTMLSelectElement>, "id"> {
  label: ReactNode;
  options: readonly SelectOption[];
  hint?: ReactNode;
  error?: string;
  placeholder?: string;
  containerClassName?: string;
  /** Renders the label for screen readers only (for compact filter bars). */
  hideLabel?: boolean;
}

export function SelectField({
  label,
  options,
  hint,
  error,
  placeholder,
  containerClassName,
  hideLabel,
  className,
  ...select
}: SelectFieldProps) {
  const id = useId();
  const control = (
    <select
      id={id}
      aria-invalid={error ? true : undefined}
      aria-describedby={error ? `${id}-error` : hint ? `${id}-hint` : undefined}
      className={cx(controlClass(error), "h-9 pr-8 pl-3", className)}
      {...select}
    >
      {placeholder !== undefined && <option value="">{placeholder}</option>}
      {options.map((o) => (
        <option key={o.value} value={o.value} disabled={o.disabled}>
          {o.label}
        </option>
      ))}
    </select>
  );
  if (hideLabel) {
    return (
      <div className={containerClassName}>
        <label htmlFor={id} className="sr-only">
          {label}
        </label>
        {control}
      </div>
    );
  }
  return (
    <FieldFrame id={id} label={label} hint={hint} error={error} className={containerClassName}>
      {control}
    </FieldFrame>
  );
}

export function Checkbox({
  label,
  description,
  className,
  ...input
}: Omit<InputHTMLAttributes<HTMLInputElement>, "type"> & { label: ReactNode; description?: ReactNode }) {
  const id = useId();
  return (
    <div className={cx("flex items-start gap-3", className)}>
      <input
        id={id}
        type="checkbox"
        className="mt-0.5 size-4 rounded border-zinc-300 accent-brand-600"
        {...input}
      />
      <label htmlFor={id} className="text-sm leading-5">
        <span className="font-medium text-zinc-800">{label}</span>
        {description && <span className="block text-[13px] text-zinc-500">{description}</span>}
      </label>
    </div>
  );
}
