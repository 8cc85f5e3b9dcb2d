import type { ReactNode } from "react";
import { AlertTriangle, CheckCircle2, Info, XCircle } from "lucide-react";
import { cx } from "./cx";

type AlertTone = "info" | "success" | "warning" | "error";

const STYLES: Record<AlertTone, { box: string; icon: ReactNode }> = {
  info: { box: "bg-sky-50 text-sky-900 ring-sky-200", icon: <Info className="size-4 text-sky-600" /> },
  success: {
    box: "bg-emerald-50 text-emerald-900 ring-emerald-200",
    icon: <CheckCircle2 className="size-4 text-emerald-600" />,
  },
  warning: {
    box: "bg-amber-50 text-amber-900 ring-amber-200",
    icon: <AlertTriangle className="size-4 text-amber-600" />,
  },
  error: { box: "bg-red-50 text-red-900 ring-red-200", icon: <XCircle className="size-4 text-red-600" /> },
};

export function Alert({
  tone = "info",
  title,
  children,
  className,
}: {
  tone?: AlertTone;
  title?: ReactNode;
  children?: ReactNode;
  className?: string;
}) {
  const style = STYLES[tone];
  return (
    <div role={tone === "error" ? "alert" : "status"} className={cx("flex gap-3 rounded-lg p-3 text-[13px] ring-1 ring-inset", style.box, className)}>
      <span className="mt-0.5 shrink-0">{style.icon}</span>
      <div className="min-w-0 space-y-0.5">
        {title && <p className="font-semibold">{title}</p>}
        {children && <div className="leading-relaxed">{children}</div>}
      </div>
    </div>
  );
}
