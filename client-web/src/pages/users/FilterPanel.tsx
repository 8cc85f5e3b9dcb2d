import { useMemo, useState, type FormEvent } from "react";
import { Filter, X } from "lucide-react";
import { Button } from "../../components/Button";
import { ConditionBuilder } from "../../components/conditions/ConditionBuilder";
import type { AmplitudeChoice, CohortChoice } from "../../components/conditions/ValueInput";
import type { ConditionGroup } from "../../gen/cdp/v1/common_pb";
import type { UserField } from "../../gen/cdp/v1/users_pb";
import { fromConditionGroup, toConditionGroup, treeProblems, type DraftGroup } from "../../lib/conditions";

/**
 * The explorer's column filters: the cohort builder over the field catalogue, applied to the
 * URL on "Apply". Server refusals (by node) come back through `errors`.
 */
export function FilterPanel({
  applied,
  fields,
  cohorts,
  amplitudeCohorts,
  errors,
  onApply,
  onClose,
}: {
  applied: ConditionGroup | undefined;
  fields: readonly UserField[];
  cohorts: readonly CohortChoice[];
  amplitudeCohorts: readonly AmplitudeChoice[];
  errors?: (draft: DraftGroup) => ReadonlyMap<string, string>;
  onApply: (tree: ConditionGroup | undefined) => void;
  onClose: () => void;
}) {
  const [draft, setDraft] = useState<DraftGroup>(() => fromConditionGroup(applied));
  const [tried, setTried] = useState(false);
  const byName = useMemo(() => new Map(fields.map((f) => [f.name, f])), [fields]);
  const problems = treeProblems(draft, byName);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setTried(true);
    if (problems.size > 0) return;
    onApply(draft.nodes.length ? toConditionGroup(draft, byName) : undefined);
  };

  return (
    <form onSubmit={submit} aria-label="User filters" className="border-b border-zinc-100 bg-zinc-50/60 px-5 py-4">
      <ConditionBuilder
        label="Filter conditions"
        value={draft}
        onChange={setDraft}
        fields={fields}
        cohorts={cohorts}
        amplitudeCohorts={amplitudeCohorts}
        problems={tried ? problems : undefined}
        errors={errors?.(draft)}
      />
      <div className="mt-3 flex flex-wrap items-center gap-2 border-t border-zinc-200/70 pt-3">
        <Button type="submit" variant="primary" icon={<Filter className="size-4" />}>
          Apply filters
        </Button>
        {draft.nodes.length > 0 && (
          <Button
            variant="ghost"
            icon={<X className="size-4" />}
            onClick={() => {
              setDraft(fromConditionGroup(undefined));
              setTried(false);
            }}
          >
            Clear all
          </Button>
        )}
        <div className="flex-1" />
        <Button variant="ghost" onClick={onClose}>
          Close
        </Button>
      </div>
    </form>
  );
}
