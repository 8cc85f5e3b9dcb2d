import { AlertTriangle, CalendarClock, Database, Pause, RefreshCw } from "lucide-react";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { cx } from "../../components/cx";
import { Tooltip } from "../../components/Tooltip";
import { DagRunState, type DagCard, type DagRun } from "../../gen/cdp/v1/integrations_pb";
import { formatDateTime, formatRelative } from "../../lib/format";
import { RUN_STATES, freshness } from "./status";

const STRIP_COLOURS: Record<DagRunState, string> = {
  [DagRunState.UNSPECIFIED]: "bg-zinc-300",
  [DagRunState.QUEUED]: "bg-amber-400",
  [DagRunState.RUNNING]: "bg-sky-500",
  [DagRunState.SUCCESS]: "bg-emerald-500",
  [DagRunState.FAILED]: "bg-red-500",
};

/**
 * One Airflow DAG: what it feeds, its latest run, last sync, next run, whether its data is
 * stale, and "Refresh now" for those who may trigger runs.
 */
export function DagCardView({
  card,
  now,
  canTrigger,
  onRefresh,
}: {
  card: DagCard;
  now: Date;
  canTrigger: boolean;
  onRefresh: (card: DagCard) => void;
}) {
  const latest = card.latestRun;
  const state = latest ? RUN_STATES[latest.state] : undefined;
  const fresh = freshness(card);
  return (
    <Card className={cx("flex h-full flex-col", fresh.kind === "stale" && "border-amber-300")}>
      <header className="flex items-start justify-between gap-3 border-b border-zinc-100 px-5 py-4">
        <div className="min-w-0">
          <h2 className="truncate font-mono text-[14px] font-semibold text-zinc-900">{card.dagId}</h2>
          {card.description && <p className="mt-0.5 line-clamp-2 text-[13px] text-zinc-500">{card.description}</p>}
        </div>
        <div className="flex shrink-0 flex-col items-end gap-1">
          {state ? (
            <Badge tone={state.tone} dot>
              {state.label}
            </Badge>
          ) : (
            <Badge>Never ran</Badge>
          )}
          {card.isPaused && (
            <Badge tone="neutral">
              <Pause className="size-3" aria-hidden />
              Paused
            </Badge>
          )}
        </div>
      </header>

      <div className="flex-1 space-y-3 px-5 py-4 text-[13px]">
        {card.feeds && (
          <p className="flex gap-2 text-zinc-700">
            <Database className="mt-0.5 size-3.5 shrink-0 text-zinc-400" aria-hidden />
            <span>
              <span className="text-zinc-500">Feeds </span>
              {card.feeds}
            </span>
          </p>
        )}

        {fresh.kind === "stale" && (
          <p role="status" className="flex items-start gap-2 rounded-md bg-amber-50 px-2.5 py-1.5 text-amber-900">
            <AlertTriangle className="mt-0.5 size-3.5 shrink-0 text-amber-600" aria-hidden />
            <span>
              Data stale since <strong>{formatDateTime(fresh.since)}</strong> ({formatRelative(fresh.since, now)})
            </span>
          </p>
        )}
        {fresh.kind === "never" && (
          <p role="status" className="flex items-start gap-2 rounded-md bg-amber-50 px-2.5 py-1.5 text-amber-900">
            <AlertTriangle className="mt-0.5 size-3.5 shrink-0 text-amber-600" aria-hidden />
            <span>Never synced: no successful run yet.</span>
          </p>
        )}

        <dl className="grid grid-cols-2 gap-x-4 gap-y-2">
          <Fact label="Last sync">
            {card.lastSuccessfulRunAt ? (
              <Tooltip content={formatDateTime(card.lastSuccessfulRunAt)}>
                <span>{formatRelative(card.lastSuccessfulRunAt, now)}</span>
              </Tooltip>
            ) : (
              "Never"
            )}
          </Fact>
          <Fact label="Next run">
            {card.isPaused ? (
              "Paused"
            ) : card.nextRunAt ? (
              <Tooltip content={formatDateTime(card.nextRunAt)}>
                <span>{formatRelative(card.nextRunAt, now)}</span>
              </Tooltip>
            ) : card.schedule ? (
              "Not planned yet"
            ) : (
              "Manual only"
            )}
          </Fact>
          <Fact label="Schedule">
            {card.schedule ? (
              <span className="inline-flex items-center gap-1">
                <CalendarClock className="size-3.5 text-zinc-400" aria-hidden />
                <code className="font-mono text-xs">{card.schedule}</code>
              </span>
            ) : (
              "None"
            )}
          </Fact>
          <Fact label="Latest run">
            {latest ? <RunSummary run={latest} now={now} /> : "—"}
          </Fact>
        </dl>

        {card.recentRuns.length > 0 && <RunStrip runs={card.recentRuns} />}

        {(card.tags.length > 0 || card.owners.length > 0) && (
          <div className="flex flex-wrap items-center gap-1">
            {card.tags.map((tag) => (
              <Badge key={tag} className="!text-[11px]">
                {tag}
              </Badge>
            ))}
            {card.owners.length > 0 && <span className="ml-auto text-xs text-zinc-500">Owner: {card.owners.join(", ")}</span>}
          </div>
        )}
      </div>

      {canTrigger && (
        <footer className="flex items-center justify-end gap-2 border-t border-zinc-100 px-5 py-3">
          {card.isPaused && <span className="mr-auto text-xs text-zinc-500">A run stays queued until the DAG is unpaused.</span>}
          <Button
            size="sm"
            variant="primary"
            icon={<RefreshCw className="size-3.5" />}
            onClick={() => onRefresh(card)}
          >
            Refresh now
          </Button>
        </footer>
      )}
    </Card>
  );
}

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="min-w-0">
      <dt className="text-xs text-zinc-500">{label}</dt>
      <dd className="truncate text-zinc-900">{children}</dd>
    </div>
  );
}

function RunSummary({ run, now }: { run: DagRun; now: Date }) {
  const when = run.endedAt ?? run.startedAt ?? run.logicalDate;
  const detail = [
    `Run ${run.runId}`,
    run.runType && `type ${run.runType}`,
    run.startedAt && `started ${formatDateTime(run.startedAt)}`,
    run.endedAt && `ended ${formatDateTime(run.endedAt)}`,
    run.note,
  ]
    .filter(Boolean)
    .join(" · ");
  return (
    <Tooltip content={detail}>
      <span>{when ? formatRelative(when, now) : RUN_STATES[run.state].label}</span>
    </Tooltip>
  );
}

/** The latest runs as coloured ticks, oldest on the left. */
function RunStrip({ runs }: { runs: readonly DagRun[] }) {
  const oldestFirst = [...runs].reverse();
  return (
    <div>
      <p className="mb-1 text-xs text-zinc-500">Recent runs</p>
      <ol className="flex gap-1" aria-label="Recent runs, oldest first">
        {oldestFirst.map((run) => (
          <li key={run.runId}>
            <Tooltip content={`${RUN_STATES[run.state].label} · ${formatDateTime(run.endedAt ?? run.startedAt ?? run.logicalDate)}`}>
              <span
                className={cx("block h-5 w-2.5 rounded-sm", STRIP_COLOURS[run.state])}
                aria-label={`${run.runId}: ${RUN_STATES[run.state].label}`}
                role="img"
              />
            </Tooltip>
          </li>
        ))}
      </ol>
    </div>
  );
}
