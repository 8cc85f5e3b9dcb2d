import type { DescService } from "@bufbuild/protobuf";
import { createConnectQueryKey } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";

/** Returns a function that marks every cached answer of `service` stale (after a change). */
export function useInvalidateService(service: DescService): () => Promise<void> {
  const queryClient = useQueryClient();
  return useCallback(
    () => queryClient.invalidateQueries({ queryKey: createConnectQueryKey({ schema: service, cardinality: undefined }) }),
    [queryClient, service],
  );
}
