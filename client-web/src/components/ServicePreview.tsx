import type { ReactNode } from "react";
import type { UseQueryResult } from "@tanstack/react-query";
import type { ConnectError } from "@connectrpc/connect";
import { CheckCircle2 } from "lucide-react";
import { Card } from "./Card";
import { Skeleton } from "./Spinner";
import { EmptyState, ErrorState } from "./States";

/**
 * The body of a page whose full UI is still being built: it makes the page's main call and
 * shows what the server says. A server without the service answers UNIMPLEMENTED, which reads
 * "This part of the CDP is not available on this server yet". Shows only what the server
 * returned, never made-up figures.
 */
export function ServicePreview<T>({
  query,
  summary,
}: {
  query: UseQueryResult<T, ConnectError>;
  /** One sentence about the answer, from its real contents. */
  summary: (data: T) => ReactNode;
}) {
  return (
    <Card>
      {query.isPending ? (
        <div className="space-y-4 p-6" aria-busy="true" aria-label="Loading">
          <Skeleton className="h-4 w-1/3" />
          <Skeleton className="h-32 w-full" />
          <Skeleton className="h-4 w-1/2" />
        </div>
      ) : query.isError ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      ) : (
        <EmptyState
          icon={<CheckCircle2 className="size-5 text-emerald-600" />}
          title={summary(query.data)}
          description="The server answered. The full view of this page comes with the next update of the web client."
        />
      )}
    </Card>
  );
}
