import { useQuery } from "@connectrpc/connect-query";
import { PageHeader } from "../../components/PageHeader";
import { ServicePreview } from "../../components/ServicePreview";
import { CohortService } from "../../gen/cdp/v1/cohorts_pb";
import { pluralize } from "../../lib/format";

/** Saved cohorts: CohortService.ListCohorts. */
export function CohortsPage() {
  const cohorts = useQuery(CohortService.method.listCohorts, { pageSize: 25 }, { retry: false });
  return (
    <>
      <PageHeader
        title="Cohorts"
        description="Segments of users built from profile fields and Amplitude imports, synced to Amplitude and Braze."
      />
      <ServicePreview query={cohorts} summary={(d) => pluralize(d.totalSize, "saved cohort")} />
    </>
  );
}
