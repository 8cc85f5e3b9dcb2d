// Before/after comparison of an audit entry's recorded fields.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

export interface DiffRow {
  field: string;
  before?: string;
  after?: string;
  changed: boolean;
}

function show(value: JsonValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** One row per top-level field present before or after, marking those that changed. */
export function diffRows(before: JsonObject | undefined, after: JsonObject | undefined): DiffRow[] {
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  return [...keys].sort().map((field) => {
    const b = show(before?.[field]);
    const a = show(after?.[field]);
    return { field, before: b, after: a, changed: b !== a };
  });
}
