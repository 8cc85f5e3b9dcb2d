import type { ReactNode } from "react";
import { Navigate, Outlet, useLocation } from "react-router";
import { Lock } from "lucide-react";
import { hasAny } from "../lib/permissions";
import { useSession } from "../stores/session";
import { Card } from "./Card";
import { PageSpinner } from "./Spinner";
import { EmptyState } from "./States";

/** Renders the signed-in part of the app, or sends the visitor to sign in (and back after). */
export function RequireAuth() {
  const status = useSession((s) => s.status);
  const location = useLocation();
  if (status === "restoring") return <PageSpinner label="Restoring your session" />;
  if (status === "signedOut") {
    const next = `${location.pathname}${location.search}`;
    return <Navigate to={`/sign-in?next=${encodeURIComponent(next)}`} replace />;
  }
  return <Outlet />;
}

/** A page the user's permissions don't open: say so instead of calling the server. */
export function RequirePermission({ anyOf, children }: { anyOf: readonly string[]; children: ReactNode }) {
  const permissions = useSession((s) => s.permissions);
  if (!hasAny(permissions, anyOf)) return <NoAccess />;
  return <>{children}</>;
}

export function NoAccess() {
  return (
    <Card>
      <EmptyState
        icon={<Lock className="size-5" />}
        title="You don't have access to this page"
        description="Your role doesn't include it. Ask an admin if you need it."
      />
    </Card>
  );
}
