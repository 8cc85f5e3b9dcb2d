import { useQuery } from "@connectrpc/connect-query";
import { PageHeader } from "../../components/PageHeader";
import { ServicePreview } from "../../components/ServicePreview";
import { IntegrationService } from "../../gen/cdp/v1/integrations_pb";
import { pluralize } from "../../lib/format";

/** Airflow DAG cards: IntegrationService.ListDags. */
export function IntegrationsPage() {
  const dags = useQuery(IntegrationService.method.listDags, {}, { retry: false });
  return (
    <>
      <PageHeader
        title="Integrations"
        description="Health of the Airflow DAGs and the Amplitude and Braze syncs that feed and use the CDP."
      />
      <ServicePreview
        query={dags}
        summary={(d) => (d.configured ? pluralize(d.dags.length, "Airflow DAG") : d.message || "Airflow is not configured on this server")}
      />
    </>
  );
}
