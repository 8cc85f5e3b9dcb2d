import { Combinator } from "../../gen/cdp/v1/common_pb";
import { describeCondition, type DraftGroup, type NameLookup } from "../../lib/conditions";
import { cx } from "../cx";

/** A condition tree in words, nested as it is built (read-only). */
export function ConditionSummary({ group, names, nested = false }: { group: DraftGroup; names: NameLookup; nested?: boolean }) {
  const or = group.combinator === Combinator.OR;
  if (group.nodes.length === 0) {
    return <p className="text-[13px] text-zinc-500">{or ? "No conditions: nobody matches." : "No conditions: every user matches."}</p>;
  }
  return (
    <div
      className={cx(
        nested && "rounded-lg border-l-4 py-1.5 pr-2 pl-3 ring-1 ring-inset",
        nested && (or ? "border-l-amber-400 bg-amber-50/40 ring-amber-200/70" : "border-l-brand-400 bg-brand-50/40 ring-brand-200/70"),
      )}
    >
      <p className="mb-1 text-xs text-zinc-500">{or ? "Any of" : "All of"}</p>
      <ul className="space-y-1">
        {group.nodes.map((node, i) => (
          <li key={node.id} className="flex items-start gap-2">
            {i > 0 ? (
              <span className={cx("mt-1 w-8 shrink-0 rounded px-1 py-px text-center text-[10px] font-semibold", or ? "bg-amber-100 text-amber-800" : "bg-brand-100 text-brand-700")}>
                {or ? "OR" : "AND"}
              </span>
            ) : (
              <span className="w-8 shrink-0" />
            )}
            <div className="min-w-0 flex-1">
              {node.type === "group" ? (
                <ConditionSummary group={node} names={names} nested />
              ) : (
                <p className="rounded-md bg-white px-2.5 py-1 text-[13px] text-zinc-800 ring-1 ring-zinc-200">{describeCondition(node, names)}</p>
              )}
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
