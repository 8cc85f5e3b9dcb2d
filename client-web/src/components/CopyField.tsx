import { useState } from "react";
import { Check, Copy } from "lucide-react";
import { Button } from "./Button";
import { cx } from "./cx";

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API refused (insecure context): fall back to a hidden textarea.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand?.("copy") ?? false;
    area.remove();
    return ok;
  }
}

/** A read-only value (link, secret) with a Copy button. */
export function CopyField({ value, label, mono = true, testId }: { value: string; label: string; mono?: boolean; testId?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div>
      <span className="mb-1.5 block text-[13px] font-medium text-zinc-800">{label}</span>
      <div className="flex gap-2">
        <input
          readOnly
          value={value}
          aria-label={label}
          data-testid={testId}
          onFocus={(e) => e.currentTarget.select()}
          className={cx(
            "h-9 min-w-0 flex-1 rounded-lg border-0 bg-zinc-50 px-3 text-[13px] text-zinc-800 ring-1 ring-zinc-200 ring-inset focus:ring-2 focus:ring-brand-500 focus:outline-none",
            mono && "font-mono",
          )}
        />
        <Button
          icon={copied ? <Check className="size-4 text-emerald-600" /> : <Copy className="size-4" />}
          onClick={async () => {
            if (await copyText(value)) {
              setCopied(true);
              setTimeout(() => setCopied(false), 2000);
            }
          }}
        >
          {copied ? "Copied" : "Copy"}
        </Button>
      </div>
    </div>
  );
}
