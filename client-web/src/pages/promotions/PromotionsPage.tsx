import { useQuery } from "@connectrpc/connect-query";
import { PageHeader } from "../../components/PageHeader";
import { ServicePreview } from "../../components/ServicePreview";
import { PromotionService } from "../../gen/cdp/v1/promotions_pb";
import { pluralize } from "../../lib/format";

/** Campaigns: PromotionService.ListPromotions. */
export function PromotionsPage() {
  const promotions = useQuery(PromotionService.method.listPromotions, { pageSize: 25 }, { retry: false });
  return (
    <>
      <PageHeader
        title="Promotions"
        description="Cohort-based campaigns with limits and a time to live, and their redemptions."
      />
      <ServicePreview query={promotions} summary={(d) => pluralize(d.totalSize, "promotion")} />
    </>
  );
}
