import { useState } from "react";
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "react-router";
import { queryClient } from "./api/query-client";
import { transport } from "./api/transport";
import { Toaster } from "./components/Toaster";
import { createRouter } from "./router";

export function App() {
  const [router] = useState(createRouter);
  return (
    <TransportProvider transport={transport}>
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
        <Toaster />
      </QueryClientProvider>
    </TransportProvider>
  );
}
