import { lazy, Suspense, type ComponentType, type ReactNode } from "react";
import { createBrowserRouter, Navigate, type RouteObject } from "react-router";
import { AppShell } from "./components/layout/AppShell";
import { NoAccess, RequireAuth, RequirePermission } from "./components/RequireAuth";
import { homePath, NAV_SECTIONS, ADMIN_TABS, type SectionId, type AdminTab } from "./lib/navigation";
import { AdminLayout } from "./pages/admin/AdminLayout";
import { AuditLogTab } from "./pages/admin/audit-log/AuditLogTab";
import { PlatformUsersTab } from "./pages/admin/platform-users/PlatformUsersTab";
import { RolesTab } from "./pages/admin/roles/RolesTab";
import { ServiceCredentialsTab } from "./pages/admin/service-credentials/ServiceCredentialsTab";
import { ForgotPasswordPage } from "./pages/forgot-password/ForgotPasswordPage";
import { IntegrationsPage } from "./pages/integrations/IntegrationsPage";
import { NotFoundPage } from "./pages/not-found/NotFoundPage";
import { SetPasswordPage } from "./pages/set-password/SetPasswordPage";
import { SignInPage } from "./pages/sign-in/SignInPage";
import { Permission } from "./lib/permissions";
import { useSession } from "./stores/session";
import { PageSpinner } from "./components/Spinner";

// The data pages (and their chart library) load when first opened, not with the sign-in page.
function lazyPage(load: () => Promise<ComponentType>): ReactNode {
  const Page = lazy(async () => ({ default: await load() }));
  return (
    <Suspense fallback={<PageSpinner />}>
      <Page />
    </Suspense>
  );
}

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
  dashboard: lazyPage(() => import("./pages/dashboard/DashboardPage").then((m) => m.DashboardPage)),
  users: lazyPage(() => import("./pages/users/UsersPage").then((m) => m.UsersPage)),
  cohorts: lazyPage(() => import("./pages/cohorts/CohortsPage").then((m) => m.CohortsPage)),
  promotions: lazyPage(() => import("./pages/promotions/PromotionsPage").then((m) => m.PromotionsPage)),
  integrations: <IntegrationsPage />,
};

// Pages under a section: a profile, a cohort or promotion, and their editors.
const detailPages: { path: string; anyOf: readonly string[]; element: ReactNode }[] = [
  { path: "/users/:userId", anyOf: [Permission.usersRead], element: lazyPage(() => import("./pages/users/UserProfilePage").then((m) => m.UserProfilePage)) },
  { path: "/cohorts/new", anyOf: [Permission.cohortsWrite], element: lazyPage(() => import("./pages/cohorts/CohortEditorPage").then((m) => m.CohortEditorPage)) },
  { path: "/cohorts/:cohortId", anyOf: [Permission.cohortsRead], element: lazyPage(() => import("./pages/cohorts/CohortDetailPage").then((m) => m.CohortDetailPage)) },
  { path: "/cohorts/:cohortId/edit", anyOf: [Permission.cohortsWrite], element: lazyPage(() => import("./pages/cohorts/CohortEditorPage").then((m) => m.CohortEditorPage)) },
  { path: "/promotions/new", anyOf: [Permission.promotionsWrite], element: lazyPage(() => import("./pages/promotions/PromotionEditorPage").then((m) => m.PromotionEditorPage)) },
  { path: "/promotions/:promotionId", anyOf: [Permission.promotionsRead], element: lazyPage(() => import("./pages/promotions/PromotionDetailPage").then((m) => m.PromotionDetailPage)) },
  { path: "/promotions/:promotionId/edit", anyOf: [Permission.promotionsWrite], element: lazyPage(() => import("./pages/promotions/PromotionEditorPage").then((m) => m.PromotionEditorPage)) },
];

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
          ...detailPages.map((d) => ({ path: d.path, element: <RequirePermission anyOf={d.anyOf}>{d.element}</RequirePermission> })),
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
