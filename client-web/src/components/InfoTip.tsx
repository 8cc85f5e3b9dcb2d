import type { ReactNode } from "react";
import { Info } from "lucide-react";
import { Tooltip } from "./Tooltip";
import { cx } from "./cx";

/** A small ⓘ that shows a definition on hover and keyboard focus. */
export function InfoTip({ content, label = "Definition", className, side = "top" }: { content: ReactNode; label?: string; className?: string; side?: "top" | "bottom" }) {
  if (!content) return null;
  return (
    <Tooltip content={content} side={side} className={className}>
      <button
        type="button"
        aria-label={label}
        className="rounded-full text-zinc-400 transition-colors hover:text-zinc-600 focus-visible:text-zinc-700"
      >
        <Info className={cx("size-3.5")} />
      </button>
    </Tooltip>
  );
}
