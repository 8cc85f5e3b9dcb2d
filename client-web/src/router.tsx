import type { ReactNode } from "react";
import { createBrowserRouter, Navigate, type RouteObject } from "react-router";
import { AppShell } from "./components/layout/AppShell";
import { NoAccess, RequireAuth, RequirePermission } from "./components/RequireAuth";
import { homePath, NAV_SECTIONS, ADMIN_TABS, type SectionId, type AdminTab } from "./lib/navigation";
import { AdminLayout } from "./pages/admin/AdminLayout";
import { AuditLogTab } from "./pages/admin/audit-log/AuditLogTab";
import { PlatformUsersTab } from "./pages/admin/platform-users/PlatformUsersTab";
import { RolesTab } from "./pages/admin/roles/RolesTab";
import { ServiceCredentialsTab } from "./pages/admin/service-credentials/ServiceCredentialsTab";
import { CohortsPage } from "./pages/cohorts/CohortsPage";
import { DashboardPage } from "./pages/dashboard/DashboardPage";
import { ForgotPasswordPage } from "./pages/forgot-password/ForgotPasswordPage";
import { IntegrationsPage } from "./pages/integrations/IntegrationsPage";
import { NotFoundPage } from "./pages/not-found/NotFoundPage";
import { PromotionsPage } from "./pages/promotions/PromotionsPage";
import { SetPasswordPage } from "./pages/set-password/SetPasswordPage";
import { SignInPage } from "./pages/sign-in/SignInPage";
import { UsersPage } from "./pages/users/UsersPage";
import { useSession } from "./stores/session";

function section(id: SectionId) {
  const s = NAV_SECTIONS.find((x) => x.id === id);
  if (!s) throw new Error(`unknown section ${id}`);
  return s;
}

function tab(id: AdminTab["id"]) {
  const t = ADMIN_TABS.find((x) => x.id === id);
  if (!t) throw new Error(`unknown admin tab ${id}`);
  return t;
}

function Home() {
  const permissions = useSession((s) => s.permissions);
  return <Navigate to={homePath(permissions)} replace />;
}

const sectionPages: Record<Exclude<SectionId, "admin">, ReactNode> = {
  dashboard: <DashboardPage />,
  users: <UsersPage />,
  cohorts: <CohortsPage />,
  promotions: <PromotionsPage />,
  integrations: <IntegrationsPage />,
};

const adminTabs: Record<AdminTab["id"], ReactNode> = {
  "platform-users": <PlatformUsersTab />,
  roles: <RolesTab />,
  "service-credentials": <ServiceCredentialsTab />,
  "audit-log": <AuditLogTab />,
};

export const routes: RouteObject[] = [
  { path: "/sign-in", element: <SignInPage /> },
  { path: "/forgot-password", element: <ForgotPasswordPage /> },
  { path: "/reset-password", element: <SetPasswordPage mode="reset" /> },
  { path: "/accept-invite", element: <SetPasswordPage mode="invite" /> },
  {
    element: <RequireAuth />,
    children: [
      {
        element: <AppShell />,
        children: [
          { index: true, element: <Home /> },
          ...Object.entries(sectionPages).map(([id, page]) => {
            const s = section(id as SectionId);
            return { path: s.path, element: <RequirePermission anyOf={s.anyOf}>{page}</RequirePermission> };
          }),
          {
            path: "/admin",
            element: (
              <RequirePermission anyOf={section("admin").anyOf}>
                <AdminLayout />
              </RequirePermission>
            ),
            children: Object.entries(adminTabs).map(([id, page]) => {
              const t = tab(id as AdminTab["id"]);
              return { path: t.path, element: <RequirePermission anyOf={t.anyOf}>{page}</RequirePermission> };
            }),
          },
          { path: "/no-access", element: <NoAccess /> },
          { path: "*", element: <NotFoundPage /> },
        ],
      },
    ],
  },
];

export function createRouter() {
  return createBrowserRouter(routes);
}
