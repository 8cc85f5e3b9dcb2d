import { Code, ConnectError } from "@connectrpc/connect";
import { QueryClient } from "@tanstack/react-query";

// Only transient failures are retried; a refusal or a missing service will not change.
const RETRYABLE = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted, Code.Aborted]);

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // Admin data changes under other people's hands: refetch whenever a page mounts.
      staleTime: 0,
      refetchOnWindowFocus: false,
      retry: (failureCount, error) =>
        failureCount < 2 && error instanceof ConnectError && RETRYABLE.has(error.code),
    },
    mutations: { retry: false },
  },
});
