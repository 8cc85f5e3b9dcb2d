import type { ReactNode } from "react";
import { CheckCircle2, Info, X, XCircle } from "lucide-react";
import { useToasts, type ToastTone } from "../stores/toast";

const ICONS: Record<ToastTone, ReactNode> = {
  success: <CheckCircle2 className="size-5 text-emerald-500" />,
  error: <XCircle className="size-5 text-red-500" />,
  info: <Info className="size-5 text-brand-500" />,
};

export function Toaster() {
  const toasts = useToasts((s) => s.toasts);
  const dismiss = useToasts((s) => s.dismiss);
  return (
    <div aria-live="polite" className="pointer-events-none fixed right-4 bottom-4 z-50 flex w-full max-w-sm flex-col gap-2">
      {toasts.map((t) => (
        <div
          key={t.id}
          role={t.tone === "error" ? "alert" : "status"}
          className="pointer-events-auto flex animate-pop-in items-start gap-3 rounded-xl bg-white p-4 shadow-lg ring-1 ring-zinc-900/10"
        >
          {ICONS[t.tone]}
          <div className="min-w-0 flex-1">
            <p className="text-sm font-medium text-zinc-900">{t.title}</p>
            {t.description && <p className="mt-0.5 text-[13px] text-zinc-500">{t.description}</p>}
          </div>
          <button
            type="button"
            onClick={() => dismiss(t.id)}
            aria-label="Dismiss"
            className="rounded p-0.5 text-zinc-400 hover:text-zinc-600"
          >
            <X className="size-4" />
          </button>
        </div>
      ))}
    </div>
  );
}
