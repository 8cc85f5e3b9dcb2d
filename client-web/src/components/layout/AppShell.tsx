import { useState } from "react";
import { Outlet, useLocation } from "react-router";
import { ChevronRight, LogOut, Menu as MenuIcon } from "lucide-react";
import { signOut } from "../../api/session";
import { ADMIN_TABS, NAV_SECTIONS } from "../../lib/navigation";
import { ROLE_LABELS, ROLE_TONES } from "../../lib/roles";
import { useSession } from "../../stores/session";
import { Badge } from "../Badge";
import { Button } from "../Button";
import { cx } from "../cx";
import { Logo } from "./Logo";
import { SidebarNav } from "./SidebarNav";

function initials(name: string, email: string): string {
  const source = name.trim() || email;
  const parts = source.split(/[\s@._-]+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "") + (parts[1]?.[0] ?? "")).toUpperCase() || "?";
}

/** "Admin › Audit log": where the user is, from the URL. */
function Breadcrumb() {
  const { pathname } = useLocation();
  const section = NAV_SECTIONS.find((s) => pathname === s.path || pathname.startsWith(`${s.path}/`));
  const tab = ADMIN_TABS.find((t) => pathname === t.path || pathname.startsWith(`${t.path}/`));
  if (!section) return null;
  return (
    <p className="hidden items-center gap-1.5 text-[13px] text-zinc-500 sm:flex">
      <span className={tab ? undefined : "font-medium text-zinc-900"}>{section.label}</span>
      {tab && (
        <>
          <ChevronRight className="size-3.5 text-zinc-300" />
          <span className="font-medium text-zinc-900">{tab.label}</span>
        </>
      )}
    </p>
  );
}

/** Sidebar with the sections the user may see, a top bar with the user, and the page. */
export function AppShell() {
  const user = useSession((s) => s.user);
  const permissions = useSession((s) => s.permissions);
  const [menuOpen, setMenuOpen] = useState(false);
  const [signingOut, setSigningOut] = useState(false);

  const sidebar = (
    <>
      <div className="flex h-16 shrink-0 items-center px-5">
        <Logo />
      </div>
      <div className="flex-1 overflow-y-auto px-3 py-4" onClick={() => setMenuOpen(false)}>
        <SidebarNav permissions={permissions} />
      </div>
      <p className="border-t border-zinc-100 px-5 py-3 text-[11px] text-zinc-400">Classified marketplace CDP</p>
    </>
  );

  return (
    <div className="flex min-h-screen">
      {/* Wide screens: a column as tall as the page whose contents stay in view. */}
      <aside className="hidden w-60 shrink-0 border-r border-zinc-200 bg-white lg:block">
        <div className="sticky top-0 flex h-screen flex-col">{sidebar}</div>
      </aside>
      {/* Narrow screens: a drawer. */}
      <aside
        className={cx(
          "fixed inset-y-0 left-0 z-30 flex w-60 flex-col border-r border-zinc-200 bg-white shadow-xl transition-transform lg:hidden",
          menuOpen ? "translate-x-0" : "-translate-x-full",
        )}
        inert={!menuOpen}
      >
        {sidebar}
      </aside>
      {menuOpen && <div className="fixed inset-0 z-20 bg-zinc-950/30 lg:hidden" onClick={() => setMenuOpen(false)} />}

      {/* overflow-x-clip: a tooltip at the right edge must not widen the page (clip keeps the header sticky). */}
      <div className="min-w-0 flex-1 overflow-x-clip">
        <header className="sticky top-0 z-10 flex h-16 items-center gap-4 border-b border-zinc-200 bg-white/90 px-4 backdrop-blur sm:px-8">
          <button
            type="button"
            className="rounded-md p-2 text-zinc-500 hover:bg-zinc-100 lg:hidden"
            aria-label="Open navigation"
            onClick={() => setMenuOpen(true)}
          >
            <MenuIcon className="size-5" />
          </button>
          <Breadcrumb />
          <div className="flex-1" />
          {user && (
            <div className="flex min-w-0 items-center gap-2 sm:gap-3" data-testid="current-user">
              <div className="hidden text-right sm:block">
                <p className="text-[13px] leading-tight font-medium text-zinc-900">{user.displayName || user.email}</p>
                <p className="text-xs leading-tight text-zinc-500">{user.email}</p>
              </div>
              <Badge tone={ROLE_TONES[user.role]}>{ROLE_LABELS[user.role]}</Badge>
              <span
                aria-hidden
                className="flex size-8 items-center justify-center rounded-full bg-brand-100 text-xs font-semibold text-brand-700"
              >
                {initials(user.displayName, user.email)}
              </span>
              <Button
                variant="ghost"
                size="sm"
                loading={signingOut}
                icon={<LogOut className="size-4" />}
                onClick={async () => {
                  setSigningOut(true);
                  await signOut();
                }}
              >
                Sign out
              </Button>
            </div>
          )}
        </header>

        <main className="mx-auto max-w-7xl px-4 py-8 sm:px-8">
          <Outlet />
        </main>
      </div>
    </div>
  );
}
