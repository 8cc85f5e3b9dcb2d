import type { JsonObject } from "@bufbuild/protobuf";
import { diffRows } from "./diff";
import { cx } from "../../../components/cx";

/** The before/after of an audit entry, changed fields first. */
export function AuditDiff({ before, after }: { before?: JsonObject; after?: JsonObject }) {
  const rows = diffRows(before, after).sort((x, y) => Number(y.changed) - Number(x.changed));
  if (rows.length === 0) {
    return <p className="text-[13px] text-zinc-500">No field values were recorded for this change.</p>;
  }
  const creation = !before;
  const deletion = !after;
  return (
    <div className="overflow-hidden rounded-lg bg-white ring-1 ring-zinc-200">
      <table className="min-w-full text-[12.5px]">
        <thead className="bg-zinc-50 text-left text-xs text-zinc-500">
          <tr>
            <th scope="col" className="w-48 px-4 py-2 font-medium">Field</th>
            {!creation && <th scope="col" className="px-4 py-2 font-medium">Before</th>}
            {!deletion && <th scope="col" className="px-4 py-2 font-medium">After</th>}
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-100 font-mono">
          {rows.map((r) => (
            <tr key={r.field}>
              <td className={cx("px-4 py-1.5 align-top", r.changed ? "font-semibold text-zinc-900" : "text-zinc-500")}>{r.field}</td>
              {!creation && (
                <td className={cx("px-4 py-1.5 align-top break-all", r.changed && !creation ? "bg-red-50/70 text-red-800" : "text-zinc-600")}>
                  {r.before ?? <span className="text-zinc-400">—</span>}
                </td>
              )}
              {!deletion && (
                <td className={cx("px-4 py-1.5 align-top break-all", r.changed && !deletion ? "bg-emerald-50/70 text-emerald-800" : "text-zinc-600")}>
                  {r.after ?? <span className="text-zinc-400">—</span>}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
