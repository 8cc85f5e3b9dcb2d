import type { ReactNode } from "react";
import { Card } from "../../components/Card";
import { InfoTip } from "../../components/InfoTip";
import { Skeleton } from "../../components/Spinner";
import { ErrorState } from "../../components/States";
import { cx } from "../../components/cx";

/** A dashboard panel: title with its definition, an optional headline figure, the content. */
export function ChartCard({
  title,
  definition,
  headline,
  actions,
  children,
  className,
  bodyClassName,
}: {
  title: string;
  definition?: ReactNode;
  headline?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  bodyClassName?: string;
}) {
  return (
    <Card className={cx("flex flex-col", className)}>
      <header className="flex flex-wrap items-start justify-between gap-3 px-5 pt-4">
        <div className="min-w-0">
          <h2 className="flex items-center gap-1.5 text-[14px] font-semibold text-zinc-900">
            {title}
            <InfoTip content={definition} label={`What ${title} means`} />
          </h2>
          {headline && <div className="mt-1">{headline}</div>}
        </div>
        {actions && <div className="flex items-center gap-2">{actions}</div>}
      </header>
      <div className={cx("flex-1 px-5 pt-3 pb-4", bodyClassName)}>{children}</div>
    </Card>
  );
}

/** Placeholder while a panel's data loads. */
export function ChartSkeleton({ height = 220 }: { height?: number }) {
  return (
    <div aria-busy="true" aria-label="Loading" className="space-y-3">
      <Skeleton className="h-4 w-24" />
      <Skeleton className="w-full" />
      <div style={{ height }} className="animate-pulse rounded-lg bg-zinc-100" />
    </div>
  );
}

/** A panel's own failure, small enough to sit inside a card. */
export function PanelError({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return <ErrorState error={error} onRetry={onRetry} className="!py-8" />;
}

/** A headline figure for a chart card: the value and its change. */
export function Headline({ value, change }: { value: ReactNode; change?: ReactNode }) {
  return (
    <p className="flex items-center gap-2">
      <span className="text-2xl font-semibold tracking-tight text-zinc-900 tabular-nums">{value}</span>
      {change}
    </p>
  );
}
