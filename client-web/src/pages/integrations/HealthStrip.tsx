import { CircleCheck, CircleDashed, CircleX } from "lucide-react";
import { Badge } from "../../components/Badge";
import { Card } from "../../components/Card";
import { cx } from "../../components/cx";
import { Tooltip } from "../../components/Tooltip";
import type { IntegrationHealth } from "../../gen/cdp/v1/integrations_pb";
import { formatDateTime, formatRelative } from "../../lib/format";
import {
  HEALTH_LABELS,
  HEALTH_TONES,
  INTEGRATION_NAMES,
  INTEGRATION_ROLES,
  healthLevel,
  lastSyncFailed,
  visibleIntegrations,
} from "./status";

const ICONS = {
  ok: <CircleCheck className="size-4 text-emerald-600" aria-hidden />,
  down: <CircleX className="size-4 text-red-600" aria-hidden />,
  off: <CircleDashed className="size-4 text-zinc-400" aria-hidden />,
};

/** One tile per integration: state now, latency, and its latest syncs either way. */
export function HealthStrip({ integrations, now }: { integrations: readonly IntegrationHealth[]; now: Date }) {
  const shown = visibleIntegrations(integrations);
  return (
    <ul className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-5" aria-label="Integration health">
      {shown.map((health) => (
        <li key={health.kind}>
          <HealthTile health={health} now={now} />
        </li>
      ))}
    </ul>
  );
}

function HealthTile({ health, now }: { health: IntegrationHealth; now: Date }) {
  const level = healthLevel(health);
  const name = INTEGRATION_NAMES[health.kind];
  const failedLast = lastSyncFailed(health);
  return (
    <Card className={cx("h-full px-4 py-3", level === "down" && "border-red-200")}>
      <div className="flex items-center justify-between gap-2">
        <h3 className="flex items-center gap-1.5 text-sm font-semibold text-zinc-900">
          {ICONS[level]}
          {name}
        </h3>
        <Badge tone={HEALTH_TONES[level]}>{HEALTH_LABELS[level]}</Badge>
      </div>
      <p className="mt-1 text-xs text-zinc-500">{INTEGRATION_ROLES[health.kind]}</p>
      <dl className="mt-2 space-y-1 text-xs">
        {level !== "off" && health.latencyMs !== undefined && (
          <Row label="Latency">{`${health.latencyMs.toString()} ms`}</Row>
        )}
        {level !== "ok" && health.message && (
          <p className={cx("leading-snug", level === "down" ? "text-red-700" : "text-zinc-500")}>{health.message}</p>
        )}
        {health.lastSuccessfulSyncAt && (
          <Row label="Last sync">
            <Tooltip content={formatDateTime(health.lastSuccessfulSyncAt)}>
              <span>{formatRelative(health.lastSuccessfulSyncAt, now)}</span>
            </Tooltip>
          </Row>
        )}
        {health.lastFailedSyncAt && (
          <Row label="Last failure">
            <Tooltip content={health.lastError || formatDateTime(health.lastFailedSyncAt)}>
              <span className={failedLast ? "font-medium text-red-700" : undefined}>
                {formatRelative(health.lastFailedSyncAt, now)}
              </span>
            </Tooltip>
          </Row>
        )}
        {failedLast && health.lastError && <p className="line-clamp-2 leading-snug text-red-700">{health.lastError}</p>}
      </dl>
    </Card>
  );
}

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="flex justify-between gap-2">
      <dt className="text-zinc-500">{label}</dt>
      <dd className="text-zinc-800">{children}</dd>
    </div>
  );
}
