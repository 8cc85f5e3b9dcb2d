import { Navigate, NavLink, Outlet, useLocation } from "react-router";
import { PageHeader } from "../../components/PageHeader";
import { cx } from "../../components/cx";
import { visibleAdminTabs } from "../../lib/navigation";
import { usePermissions } from "../../stores/session";

/** Admin section: tabs for the parts the user's permissions open. */
export function AdminLayout() {
  const tabs = visibleAdminTabs(usePermissions());
  const location = useLocation();
  if (location.pathname.replace(/\/+$/, "") === "/admin" && tabs[0]) {
    return <Navigate to={tabs[0].path} replace />;
  }
  return (
    <>
      <PageHeader title="Admin" description="Platform users, roles, service credentials and the audit log." />
      <nav aria-label="Admin" className="mb-6 flex gap-1 overflow-x-auto border-b border-zinc-200">
        {tabs.map((tab) => (
          <NavLink
            key={tab.id}
            to={tab.path}
            className={({ isActive }) =>
              cx(
                "-mb-px border-b-2 px-3 py-2.5 text-sm font-medium whitespace-nowrap transition-colors",
                isActive
                  ? "border-brand-600 text-brand-700"
                  : "border-transparent text-zinc-500 hover:border-zinc-300 hover:text-zinc-800",
              )
            }
          >
            {tab.label}
          </NavLink>
        ))}
      </nav>
      <Outlet />
    </>
  );
}
