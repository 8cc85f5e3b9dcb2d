// What the condition builder offers: the field catalogue, saved cohorts for "is a member of"
// and imported Amplitude cohorts, from the server (cached; the catalogue rarely changes).
import { useMemo } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { CohortService } from "../../gen/cdp/v1/cohorts_pb";
import { UserService, type UserField } from "../../gen/cdp/v1/users_pb";
import { Permission } from "../../lib/permissions";
import { formatNumber } from "../../lib/numbers";
import { useCan } from "../../stores/session";
import type { AmplitudeChoice, CohortChoice } from "./ValueInput";

export function useConditionSources() {
  const canReadCohorts = useCan(Permission.cohortsRead);
  const fields = useQuery(UserService.method.listUserFields, {}, { staleTime: 5 * 60_000 });
  const cohorts = useQuery(CohortService.method.listCohorts, { pageSize: 500 }, { enabled: canReadCohorts, staleTime: 60_000 });
  const sources = useMemo(() => {
    const list: readonly UserField[] = fields.data?.fields ?? [];
    const saved = cohorts.data?.cohorts ?? [];
    const cohortChoices: CohortChoice[] = saved.map((c) => ({ id: c.id.toString(), name: c.name, hint: `${formatNumber(c.size)} users` }));
    const amplitudeChoices: AmplitudeChoice[] = saved
      .filter((c) => c.amplitudeImport?.amplitudeCohortId)
      .map((c) => ({ id: c.amplitudeImport!.amplitudeCohortId, name: `${c.name} (${c.amplitudeImport!.amplitudeCohortId})` }));
    return {
      fields: list,
      fieldsByName: new Map(list.map((f) => [f.name, f])),
      cohortChoices,
      amplitudeChoices,
      cohortNames: new Map(saved.map((c) => [c.id.toString(), c.name])),
    };
  }, [fields.data, cohorts.data]);
  return { ...sources, fieldsQuery: fields };
}
