export function Logo({ subtitle = true }: { subtitle?: boolean }) {
  return (
    <div className="flex items-center gap-2.5">
      <svg viewBox="0 0 32 32" className="size-8" aria-hidden>
        <rect width="32" height="32" rx="8" className="fill-brand-600" />
        <circle cx="11" cy="12" r="4" fill="#fff" />
        <circle cx="21" cy="12" r="4" fill="#c7d2fe" />
        <circle cx="16" cy="21" r="4" fill="#e0e7ff" />
      </svg>
      <div className="leading-tight">
        <p className="text-[15px] font-semibold tracking-tight text-zinc-900">CDP</p>
        {subtitle && <p className="text-[11px] text-zinc-500">Customer Data Platform</p>}
      </div>
    </div>
  );
}
