import { useId } from "react";

/** A small trend line without axes (list rows, cards). Shows nothing for fewer than 2 points. */
export function Sparkline({
  values,
  width = 96,
  height = 28,
  color = "#4f46e5",
  label,
}: {
  values: readonly number[];
  width?: number;
  height?: number;
  color?: string;
  /** Accessible description, e.g. "Size over the last 30 days: 120 to 180". */
  label: string;
}) {
  const gradient = useId();
  if (values.length < 2) {
    return <span className="text-xs text-zinc-400">—</span>;
  }
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  // Small wobbles of a large number stay small: the span is at least a tenth of the level.
  const span = Math.max(hi - lo, Math.abs(hi) * 0.1, 1);
  const min = (hi + lo) / 2 - span / 2;
  const pad = 2;
  const points = values.map((v, i) => {
    const x = (i / (values.length - 1)) * (width - pad * 2) + pad;
    const y = height - pad - ((v - min) / span) * (height - pad * 2);
    return [x, y] as const;
  });
  const line = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const area = `M${points[0][0]},${height} L${line.replaceAll(" ", " L")} L${points[points.length - 1][0]},${height} Z`;
  const [lx, ly] = points[points.length - 1];
  return (
    <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} className="overflow-visible">
      <defs>
        <linearGradient id={gradient} x1="0" x2="0" y1="0" y2="1">
          <stop offset="0%" stopColor={color} stopOpacity={0.18} />
          <stop offset="100%" stopColor={color} stopOpacity={0} />
        </linearGradient>
      </defs>
      <path d={area} fill={`url(#${gradient})`} />
      <polyline points={line} fill="none" stroke={color} strokeWidth={1.5} strokeLinejoin="round" strokeLinecap="round" />
      <circle cx={lx} cy={ly} r={2.2} fill={color} />
    </svg>
  );
}
