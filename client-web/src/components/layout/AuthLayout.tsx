import type { ReactNode } from "react";
import { BarChart3, Megaphone, ShieldCheck } from "lucide-react";
import { Logo } from "./Logo";

const POINTS = [
  { icon: <BarChart3 className="size-4" />, text: "Lifecycle metrics and cohorts over every marketplace user" },
  { icon: <Megaphone className="size-4" />, text: "Cohort-based promotions activated in real time" },
  { icon: <ShieldCheck className="size-4" />, text: "Role-based access with a full audit trail" },
];

/** The frame of the signed-out pages: a brand panel beside a narrow form column. */
export function AuthLayout({ title, subtitle, children }: { title: string; subtitle?: ReactNode; children: ReactNode }) {
  return (
    <div className="flex min-h-screen bg-white">
      <div className="relative hidden w-[44%] max-w-xl flex-col justify-between overflow-hidden bg-gradient-to-br from-brand-700 via-brand-600 to-indigo-500 p-12 text-white lg:flex">
        <div
          aria-hidden
          className="absolute inset-0 opacity-[0.12]"
          style={{
            backgroundImage: "radial-gradient(circle at 1px 1px, white 1px, transparent 0)",
            backgroundSize: "22px 22px",
          }}
        />
        <div className="relative flex items-center gap-2.5">
          <span className="flex size-8 items-center justify-center rounded-lg bg-white/15 ring-1 ring-white/25">
            <svg viewBox="0 0 32 32" className="size-5" aria-hidden>
              <circle cx="11" cy="12" r="4" fill="#fff" />
              <circle cx="21" cy="12" r="4" fill="#c7d2fe" />
              <circle cx="16" cy="21" r="4" fill="#e0e7ff" />
            </svg>
          </span>
          <span className="text-[15px] font-semibold tracking-tight">CDP</span>
        </div>
        <div className="relative">
          <h2 className="text-3xl leading-tight font-semibold tracking-tight">
            Know every user.
            <br />
            Act on every segment.
          </h2>
          <ul className="mt-8 space-y-4 text-[15px] text-brand-50">
            {POINTS.map((p) => (
              <li key={p.text} className="flex items-center gap-3">
                <span className="flex size-8 shrink-0 items-center justify-center rounded-lg bg-white/10 ring-1 ring-white/20">
                  {p.icon}
                </span>
                {p.text}
              </li>
            ))}
          </ul>
        </div>
        <p className="relative text-xs text-brand-100/80">Customer Data Platform for the classified marketplace</p>
      </div>
      <div className="flex flex-1 items-center justify-center px-6 py-12">
        <div className="w-full max-w-sm">
          <div className="mb-10 lg:hidden">
            <Logo />
          </div>
          <h1 className="text-2xl font-semibold tracking-tight text-zinc-900">{title}</h1>
          {subtitle && <p className="mt-2 text-sm text-zinc-500">{subtitle}</p>}
          <div className="mt-8">{children}</div>
        </div>
      </div>
    </div>
  );
}
