import { useState } from "react";
import { useNavigate } from "react-router";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { Search } from "lucide-react";
import { describeError } from "../../api/errors";
import { useInvalidateService } from "../../api/invalidate";
import { Alert } from "../../components/Alert";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Dialog } from "../../components/Dialog";
import { TextField } from "../../components/Field";
import { Skeleton } from "../../components/Spinner";
import { ErrorState } from "../../components/States";
import { CohortService } from "../../gen/cdp/v1/cohorts_pb";
import { formatDateTime, formatRelative } from "../../lib/format";
import { formatNumber } from "../../lib/numbers";
import { useDebounced } from "../../lib/use-debounced";
import { toast } from "../../stores/toast";

/** Amplitude's cohorts, each importable as a static CDP cohort (needs amplitude.import). */
export function ImportAmplitudeDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const navigate = useNavigate();
  const [search, setSearch] = useState("");
  const settled = useDebounced(search.trim(), 300);
  const invalidate = useInvalidateService(CohortService);
  const list = useQuery(CohortService.method.listAmplitudeCohorts, { search: settled }, { enabled: open, retry: false });
  const importCohort = useMutation(CohortService.method.importAmplitudeCohort, { onSuccess: invalidate });
  const [importing, setImporting] = useState<string | null>(null);
  const [failure, setFailure] = useState<unknown>(null);

  const run = async (id: string, name: string) => {
    setImporting(id);
    setFailure(null);
    try {
      const res = await importCohort.mutateAsync({ amplitudeCohortId: id });
      toast("success", `Imported “${name}”`, `${formatNumber(res.matchedUsers)} users matched, ${formatNumber(res.unmatchedIds)} Amplitude ids without a user.`);
      onClose();
      if (res.cohort) navigate(`/cohorts/${res.cohort.id}`);
    } catch (err) {
      setFailure(err);
    } finally {
      setImporting(null);
    }
  };

  const data = list.data;
  const friendly = failure ? describeError(failure) : null;
  return (
    <Dialog
      open={open}
      onClose={() => !importing && onClose()}
      size="lg"
      title="Import a cohort from Amplitude"
      description="The cohort is downloaded and matched to marketplace users through their Amplitude ids. Importing it again replaces its members."
      footer={
        <Button onClick={onClose} disabled={Boolean(importing)}>
          Close
        </Button>
      }
    >
      <div className="space-y-3">
        <div className="flex flex-wrap items-center justify-between gap-3">
          <TextField
            label={<span className="sr-only">Search Amplitude cohorts</span>}
            containerClassName="w-full max-w-xs !space-y-0"
            leading={<Search className="size-4" />}
            placeholder="Search by name"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            type="search"
          />
          {data?.remainingDownloadQuota !== undefined && (
            <p className="text-xs text-zinc-500">
              {formatNumber(data.remainingDownloadQuota)} downloads left{data.quotaResetsAt ? `, resets ${formatRelative(data.quotaResetsAt)}` : ""}
            </p>
          )}
        </div>
        {friendly && (
          <Alert tone="error" title={friendly.title}>
            {friendly.message}
          </Alert>
        )}
        {list.isPending ? (
          <div className="space-y-2" aria-busy="true" aria-label="Loading">
            <Skeleton className="h-10 w-full" />
            <Skeleton className="h-10 w-full" />
            <Skeleton className="h-10 w-full" />
          </div>
        ) : list.isError ? (
          <ErrorState error={list.error} onRetry={() => void list.refetch()} className="!py-8" />
        ) : data && data.cohorts.length === 0 ? (
          <p className="py-8 text-center text-[13px] text-zinc-500">No Amplitude cohort matches.</p>
        ) : (
          <ul className="max-h-96 divide-y divide-zinc-100 overflow-y-auto rounded-lg ring-1 ring-zinc-200">
            {data?.cohorts.map((c) => (
              <li key={c.id} className="flex items-center gap-3 px-3 py-2.5">
                <div className="min-w-0 flex-1">
                  <p className="flex items-center gap-2 text-[13px] font-medium text-zinc-900">
                    <span className="truncate">{c.name}</span>
                    {c.importedCohortId !== undefined && <Badge tone="green">Imported</Badge>}
                  </p>
                  <p className="text-xs text-zinc-500" title={formatDateTime(c.lastComputedAt)}>
                    {formatNumber(c.size)} users in Amplitude · computed {formatRelative(c.lastComputedAt)}
                    {c.owner ? ` · ${c.owner}` : ""}
                  </p>
                </div>
                <Button size="sm" loading={importing === c.id} disabled={Boolean(importing) && importing !== c.id} onClick={() => void run(c.id, c.name)}>
                  {c.importedCohortId !== undefined ? "Import again" : "Import"}
                </Button>
              </li>
            ))}
          </ul>
        )}
      </div>
    </Dialog>
  );
}
