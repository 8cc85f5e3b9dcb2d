import type { ReactNode } from "react";
import { Code } from "@connectrpc/connect";
import { CloudOff, Construction, Inbox, Lock, RefreshCw } from "lucide-react";
import { describeError } from "../api/errors";
import { Button } from "./Button";
import { cx } from "./cx";

export function EmptyState({
  icon,
  title,
  description,
  action,
  className,
}: {
  icon?: ReactNode;
  title: ReactNode;
  description?: ReactNode;
  action?: ReactNode;
  className?: string;
}) {
  return (
    <div className={cx("flex flex-col items-center px-6 py-14 text-center", className)}>
      <div className="mb-4 flex size-11 items-center justify-center rounded-full bg-zinc-100 text-zinc-500">
        {icon ?? <Inbox className="size-5" />}
      </div>
      <h3 className="text-sm font-semibold text-zinc-900">{title}</h3>
      {description && <p className="mt-1 max-w-sm text-[13px] text-zinc-500">{description}</p>}
      {action && <div className="mt-5">{action}</div>}
    </div>
  );
}

/** A failed load, in words (via api/errors), with a retry when trying again can help. */
export function ErrorState({
  error,
  onRetry,
  className,
}: {
  error: unknown;
  onRetry?: () => void;
  className?: string;
}) {
  const friendly = describeError(error);
  const icon =
    friendly.code === Code.Unimplemented ? (
      <Construction className="size-5" />
    ) : friendly.code === Code.PermissionDenied ? (
      <Lock className="size-5" />
    ) : (
      <CloudOff className="size-5" />
    );
  const tone =
    friendly.code === Code.Unimplemented || friendly.code === Code.PermissionDenied
      ? "bg-zinc-100 text-zinc-500"
      : "bg-red-50 text-red-500";
  return (
    <div role="alert" className={cx("flex flex-col items-center px-6 py-14 text-center", className)}>
      <div className={cx("mb-4 flex size-11 items-center justify-center rounded-full", tone)}>{icon}</div>
      <h3 className="text-sm font-semibold text-zinc-900">{friendly.title}</h3>
      <p className="mt-1 max-w-md text-[13px] text-zinc-500">{friendly.message}</p>
      {onRetry && friendly.retryable && (
        <Button className="mt-5" size="sm" icon={<RefreshCw className="size-3.5" />} onClick={onRetry}>
          Try again
        </Button>
      )}
    </div>
  );
}
