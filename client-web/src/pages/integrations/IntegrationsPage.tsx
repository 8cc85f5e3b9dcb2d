import { useState } from "react";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { Plug, RefreshCw } from "lucide-react";
import { useInvalidateService } from "../../api/invalidate";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { PageHeader } from "../../components/PageHeader";
import { Skeleton } from "../../components/Spinner";
import { EmptyState, ErrorState } from "../../components/States";
import { IntegrationService, type DagCard } from "../../gen/cdp/v1/integrations_pb";
import { formatDateTime } from "../../lib/format";
import { Permission } from "../../lib/permissions";
import { useCan } from "../../stores/session";
import { toast } from "../../stores/toast";
import { DagCardView } from "./DagCardView";
import { HealthStrip } from "./HealthStrip";
import { RefreshDialog } from "./RefreshDialog";
import { RUN_STATES, describeIntegrationError, hasActiveRun } from "./status";

// While a run is queued or running the cards follow it; otherwise they refresh now and then.
const ACTIVE_POLL_MS = 5_000;
const IDLE_POLL_MS = 60_000;

/** The Integrations Monitor: the health of every integration and a card per Airflow DAG. */
export function IntegrationsPage() {
  const canTrigger = useCan(Permission.integrationsTrigger);
  const dags = useQuery(IntegrationService.method.listDags, {}, {
    retry: false,
    refetchInterval: (query) => (query.state.data && hasActiveRun(query.state.data.dags) ? ACTIVE_POLL_MS : IDLE_POLL_MS),
  });
  const health = useQuery(IntegrationService.method.getIntegrationHealth, {}, { retry: false, refetchInterval: IDLE_POLL_MS });
  const invalidate = useInvalidateService(IntegrationService);
  const trigger = useMutation(IntegrationService.method.triggerDag, { onSuccess: invalidate });
  const [refreshing, setRefreshing] = useState<DagCard | null>(null);
  // "3 hours ago" is relative to when the server answered, so renders stay pure.
  const now = new Date(Math.max(dags.dataUpdatedAt, health.dataUpdatedAt));

  const checkNow = () => {
    void dags.refetch();
    void health.refetch();
  };

  return (
    <>
      <PageHeader
        title="Integrations"
        description="The Airflow DAGs that feed the CDP and the systems it depends on. Cards say what each DAG feeds, when it last synced and whether its data is stale."
        actions={
          <Button
            size="sm"
            icon={<RefreshCw className="size-3.5" />}
            loading={dags.isFetching || health.isFetching}
            onClick={checkNow}
          >
            Check now
          </Button>
        }
      />

      <section aria-labelledby="health-heading" className="mb-8">
        <div className="mb-3 flex items-baseline justify-between">
          <h2 id="health-heading" className="text-sm font-semibold text-zinc-900">
            Health
          </h2>
          {health.data?.checkedAt && <p className="text-xs text-zinc-500">Checked {formatDateTime(health.data.checkedAt)}</p>}
        </div>
        {health.isPending ? (
          <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3 xl:grid-cols-5" aria-busy="true" aria-label="Loading">
            {Array.from({ length: 5 }, (_, i) => (
              <Skeleton key={i} className="h-24" />
            ))}
          </div>
        ) : health.isError ? (
          <Card>
            <ErrorState error={health.error} onRetry={() => void health.refetch()} />
          </Card>
        ) : (
          <HealthStrip integrations={health.data.integrations} now={now} />
        )}
      </section>

      <section aria-labelledby="dags-heading">
        <h2 id="dags-heading" className="mb-3 text-sm font-semibold text-zinc-900">
          Airflow DAGs
        </h2>
        {dags.isPending ? (
          <div className="grid gap-4 lg:grid-cols-2 xl:grid-cols-3" aria-busy="true" aria-label="Loading">
            {Array.from({ length: 3 }, (_, i) => (
              <Skeleton key={i} className="h-72" />
            ))}
          </div>
        ) : dags.isError ? (
          <DagsError error={dags.error} onRetry={() => void dags.refetch()} />
        ) : !dags.data.configured ? (
          <Card>
            <EmptyState icon={<Plug className="size-5" />} title="Airflow is not connected" description={dags.data.message} />
          </Card>
        ) : dags.data.dags.length === 0 ? (
          <Card>
            <EmptyState
              title="No DAGs in Airflow"
              description="Airflow answered but shows the CDP's user no DAGs. Deploy infra/airflow/dags and check the user's access."
            />
          </Card>
        ) : (
          <ul className="grid gap-4 lg:grid-cols-2 xl:grid-cols-3">
            {dags.data.dags.map((card) => (
              <li key={card.dagId}>
                <DagCardView card={card} now={now} canTrigger={canTrigger} onRefresh={setRefreshing} />
              </li>
            ))}
          </ul>
        )}
      </section>

      {canTrigger && (
        <RefreshDialog
          card={refreshing}
          onClose={() => setRefreshing(null)}
          onTrigger={async ({ dagId, note, conf }) => {
            const response = await trigger.mutateAsync({ dagId, note, conf });
            const state = response.run ? RUN_STATES[response.run.state].label.toLowerCase() : "started";
            toast("success", `${dagId}: run ${state}`, response.run?.runId);
          }}
        />
      )}
    </>
  );
}

/** Airflow's own failures in the server's words (which setting, which host); others as usual. */
function DagsError({ error, onRetry }: { error: unknown; onRetry: () => void }) {
  const friendly = describeIntegrationError(error);
  if (!friendly.reason?.startsWith("INTEGRATION_")) {
    return (
      <Card>
        <ErrorState error={error} onRetry={onRetry} />
      </Card>
    );
  }
  return (
    <Alert tone="error" title={friendly.title}>
      <p>{friendly.message}</p>
      <Button className="mt-2" size="sm" icon={<RefreshCw className="size-3.5" />} onClick={onRetry}>
        Try again
      </Button>
    </Alert>
  );
}
