import type { ReactNode } from "react";
import { NavLink } from "react-router";
import { BarChart3, Cable, LayoutDashboard, Megaphone, ShieldCheck, Users } from "lucide-react";
import { visibleSections, type SectionId } from "../../lib/navigation";
import { cx } from "../cx";

const ICONS: Record<SectionId, ReactNode> = {
  dashboard: <LayoutDashboard className="size-4" />,
  users: <Users className="size-4" />,
  cohorts: <BarChart3 className="size-4" />,
  promotions: <Megaphone className="size-4" />,
  integrations: <Cable className="size-4" />,
  admin: <ShieldCheck className="size-4" />,
};

/** The app's sections that `permissions` allow, as links. */
export function SidebarNav({ permissions }: { permissions: ReadonlySet<string> }) {
  const sections = visibleSections(permissions);
  return (
    <nav aria-label="Main" className="space-y-0.5">
      {sections.map((s) => (
        <NavLink
          key={s.id}
          to={s.path}
          className={({ isActive }) =>
            cx(
              "flex items-center gap-3 rounded-lg px-3 py-2 text-sm font-medium transition-colors",
              isActive ? "bg-brand-50 text-brand-700" : "text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900",
            )
          }
        >
          {({ isActive }) => (
            <>
              <span className={isActive ? "text-brand-600" : "text-zinc-400"}>{ICONS[s.id]}</span>
              {s.label}
            </>
          )}
        </NavLink>
      ))}
    </nav>
  );
}
