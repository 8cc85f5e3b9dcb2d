/** A half-circle gauge for a ratio between 0 and 1 (stickiness, match rates). */
export function Gauge({
  ratio,
  label,
  display,
  color = "#4f46e5",
  size = 168,
}: {
  ratio: number | undefined;
  label: string;
  /** The value as text, shown in the middle. */
  display: string;
  color?: string;
  size?: number;
}) {
  const r = 70;
  const circumference = Math.PI * r;
  const clamped = Math.max(0, Math.min(1, ratio ?? 0));
  return (
    <figure className="flex flex-col items-center" aria-label={`${label}: ${display}`}>
      <svg viewBox="0 0 180 100" width={size} height={(size * 100) / 180} role="img" aria-hidden>
        <path d="M 20 90 A 70 70 0 0 1 160 90" fill="none" stroke="#f4f4f5" strokeWidth={16} strokeLinecap="round" />
        {ratio !== undefined && (
          <path
            d="M 20 90 A 70 70 0 0 1 160 90"
            fill="none"
            stroke={color}
            strokeWidth={16}
            strokeLinecap="round"
            strokeDasharray={`${clamped * circumference} ${circumference}`}
          />
        )}
        <text x="90" y="84" textAnchor="middle" className="fill-zinc-900" style={{ fontSize: 24, fontWeight: 600 }}>
          {display}
        </text>
      </svg>
      <figcaption className="mt-1 text-[13px] text-zinc-500">{label}</figcaption>
    </figure>
  );
}
