// The editable form of a condition tree (cdp.v1.ConditionGroup) used by the visual builder
// of cohorts and the user explorer's filters: a draft keeps what the person typed as text
// (so a half-typed number is not lost), converts to the message the server evaluates, back
// from a saved tree, and to and from the URL. Which value an operator takes follows the
// contract (common.proto, Operator); the server validates every tree again.
import { create, fromJsonString, toJsonString, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  Combinator,
  ConditionGroupSchema,
  ConditionSchema,
  Operator,
  ValueSchema,
  type ConditionGroup,
  type Value,
} from "../gen/cdp/v1/common_pb";
import { FieldType, type UserField } from "../gen/cdp/v1/users_pb";

/** Deepest nesting the server accepts (ConditionGroup). */
export const MAX_DEPTH = 8;
/** Most conditions the server accepts in one tree. */
export const MAX_CONDITIONS = 200;

export interface DraftCondition {
  id: string;
  type: "condition";
  /** Catalogue field name; "" until chosen. */
  field: string;
  operator: Operator;
  /** The single value, or the lower bound of BETWEEN, as typed. */
  value: string;
  /** The upper bound of BETWEEN, as typed. */
  valueTo: string;
  /** Several values (IN, NOT_IN, CONTAINS_*). */
  items: string[];
}

export interface DraftGroup {
  id: string;
  type: "group";
  combinator: Combinator;
  nodes: DraftNode[];
}

export type DraftNode = DraftCondition | DraftGroup;

/** What kind of input an operator needs on a field of a given type. */
export type ValueKind =
  | "none"
  | "number"
  | "numberRange"
  | "numbers"
  | "text"
  | "texts"
  | "date"
  | "dateRange"
  | "days"
  | "flag"
  | "cohort"
  | "amplitudeCohort";

let counter = 0;
/** A node id, unique within the page's lifetime (never sent to the server). */
export function newNodeId(): string {
  counter += 1;
  return `n${counter}`;
}

export function emptyGroup(combinator: Combinator = Combinator.AND): DraftGroup {
  return { id: newNodeId(), type: "group", combinator, nodes: [] };
}

export function emptyCondition(field = "", operator: Operator = Operator.UNSPECIFIED): DraftCondition {
  return { id: newNodeId(), type: "condition", field, operator, value: "", valueTo: "", items: [] };
}

export function valueKind(type: FieldType, op: Operator): ValueKind {
  switch (op) {
    case Operator.IS_SET:
    case Operator.IS_NOT_SET:
    case Operator.UNSPECIFIED:
      return "none";
    case Operator.IN_COHORT:
    case Operator.NOT_IN_COHORT:
      return "cohort";
    case Operator.IN_AMPLITUDE_COHORT:
    case Operator.NOT_IN_AMPLITUDE_COHORT:
      return "amplitudeCohort";
    case Operator.WITHIN_LAST_DAYS:
    case Operator.MORE_THAN_DAYS_AGO:
      return "days";
    case Operator.CONTAINS_ANY:
    case Operator.CONTAINS_ALL:
    case Operator.CONTAINS_NONE:
      return "texts";
    case Operator.IN:
    case Operator.NOT_IN:
      return type === FieldType.NUMBER ? "numbers" : "texts";
    case Operator.BETWEEN:
      return type === FieldType.TIMESTAMP ? "dateRange" : "numberRange";
    case Operator.BEFORE:
    case Operator.AFTER:
      return "date";
    case Operator.GREATER_THAN:
    case Operator.GREATER_OR_EQUAL:
    case Operator.LESS_THAN:
    case Operator.LESS_OR_EQUAL:
      return "number";
    case Operator.CONTAINS:
    case Operator.NOT_CONTAINS:
    case Operator.STARTS_WITH:
      return "text";
    case Operator.EQUALS:
    case Operator.NOT_EQUALS:
      switch (type) {
        case FieldType.NUMBER:
          return "number";
        case FieldType.TIMESTAMP:
          return "date";
        case FieldType.BOOLEAN:
          return "flag";
        default:
          return "text";
      }
    default:
      return "text";
  }
}

/** Short words for an operator, as a sentence reads: "Total credits spent is at least 100". */
export const OPERATOR_LABELS: Record<Operator, string> = {
  [Operator.UNSPECIFIED]: "Choose…",
  [Operator.EQUALS]: "is",
  [Operator.NOT_EQUALS]: "is not",
  [Operator.GREATER_THAN]: "is more than",
  [Operator.GREATER_OR_EQUAL]: "is at least",
  [Operator.LESS_THAN]: "is less than",
  [Operator.LESS_OR_EQUAL]: "is at most",
  [Operator.BETWEEN]: "is between",
  [Operator.CONTAINS]: "contains",
  [Operator.NOT_CONTAINS]: "does not contain",
  [Operator.STARTS_WITH]: "starts with",
  [Operator.IN]: "is any of",
  [Operator.NOT_IN]: "is none of",
  [Operator.CONTAINS_ANY]: "includes any of",
  [Operator.CONTAINS_ALL]: "includes all of",
  [Operator.CONTAINS_NONE]: "includes none of",
  [Operator.BEFORE]: "is before",
  [Operator.AFTER]: "is after",
  [Operator.WITHIN_LAST_DAYS]: "is within the last",
  [Operator.MORE_THAN_DAYS_AGO]: "is more than",
  [Operator.IS_SET]: "is set",
  [Operator.IS_NOT_SET]: "is not set",
  [Operator.IN_COHORT]: "is a member of",
  [Operator.NOT_IN_COHORT]: "is not a member of",
  [Operator.IN_AMPLITUDE_COHORT]: "is in",
  [Operator.NOT_IN_AMPLITUDE_COHORT]: "is not in",
};

/** Labels of the operators of a date field, where "is" reads "is on". */
export function operatorLabel(op: Operator, type: FieldType): string {
  if (type === FieldType.TIMESTAMP && op === Operator.EQUALS) return "is on";
  if (type === FieldType.TIMESTAMP && op === Operator.BETWEEN) return "is between";
  return OPERATOR_LABELS[op];
}

// ---------------------------------------------------------------------------------------
// Tree edits (pure: each returns a new tree).

function mapGroup(group: DraftGroup, fn: (node: DraftNode) => DraftNode | null): DraftGroup {
  const nodes: DraftNode[] = [];
  for (const node of group.nodes) {
    const mapped = fn(node);
    if (!mapped) continue;
    nodes.push(mapped.type === "group" ? mapGroup(mapped, fn) : mapped);
  }
  return { ...group, nodes };
}

/** Replaces the node `id` (anywhere in the tree, the root included) with `fn(node)`. */
export function updateNode(root: DraftGroup, id: string, fn: (node: DraftNode) => DraftNode): DraftGroup {
  if (root.id === id) {
    const next = fn(root);
    return next.type === "group" ? next : root;
  }
  return mapGroup(root, (node) => (node.id === id ? fn(node) : node));
}

export function removeNode(root: DraftGroup, id: string): DraftGroup {
  if (root.id === id) return { ...root, nodes: [] };
  return mapGroup(root, (node) => (node.id === id ? null : node));
}

export function appendTo(root: DraftGroup, groupId: string, node: DraftNode): DraftGroup {
  return updateNode(root, groupId, (g) => (g.type === "group" ? { ...g, nodes: [...g.nodes, node] } : g));
}

export function countConditions(group: DraftGroup): number {
  return group.nodes.reduce((n, node) => n + (node.type === "group" ? countConditions(node) : 1), 0);
}

/** Depth of the group: 1 for a group of conditions only. */
export function depthOf(group: DraftGroup): number {
  return 1 + Math.max(0, ...group.nodes.map((n) => (n.type === "group" ? depthOf(n) : 0)));
}

/** Changes a condition's field: the operator becomes the field's first, values are cleared. */
export function withField(cond: DraftCondition, field: UserField | undefined): DraftCondition {
  return { ...cond, field: field?.name ?? "", operator: field?.operators[0] ?? Operator.UNSPECIFIED, value: "", valueTo: "", items: [] };
}

/** Changes the operator, keeping what was typed when the new operator takes the same kind of value. */
export function withOperator(cond: DraftCondition, op: Operator, type: FieldType): DraftCondition {
  const before = valueKind(type, cond.operator);
  const after = valueKind(type, op);
  if (before === after) return { ...cond, operator: op };
  // A single value carries over into a list and back, and into a range as its lower bound.
  const first = cond.value || cond.items[0] || "";
  const scalar = (k: ValueKind) => k === "number" || k === "text" || k === "date" || k === "days";
  const list = (k: ValueKind) => k === "numbers" || k === "texts";
  const range = (k: ValueKind) => k === "numberRange" || k === "dateRange";
  const sameBase = (a: ValueKind, b: ValueKind) =>
    (a.startsWith("number") && b.startsWith("number")) || (a.startsWith("date") && b.startsWith("date")) || (a.startsWith("text") && b.startsWith("text"));
  if (!sameBase(before, after)) return { ...cond, operator: op, value: "", valueTo: "", items: [] };
  if (list(after)) return { ...cond, operator: op, items: first ? [first] : [], value: "", valueTo: "" };
  if (scalar(after) || range(after)) return { ...cond, operator: op, value: first, valueTo: range(after) ? cond.valueTo : "", items: [] };
  return { ...cond, operator: op };
}

// ---------------------------------------------------------------------------------------
// Checks before sending (the server checks again and names the node it refuses).

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

function parseNumber(text: string): number | undefined {
  const t = text.trim().replace(/[\s,_]/g, "");
  if (!t) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

function parseDays(text: string): bigint | undefined {
  const t = text.trim();
  return /^\d+$/.test(t) && Number(t) > 0 ? BigInt(t) : undefined;
}

/** Why a condition can't be sent yet, or undefined when it is complete. */
export function conditionProblem(cond: DraftCondition, field: UserField | undefined): string | undefined {
  if (!cond.field) return "Choose a field.";
  if (!field) return "This field is not in the catalogue.";
  if (cond.operator === Operator.UNSPECIFIED) return "Choose a comparison.";
  if (!field.operators.includes(cond.operator)) return "This comparison does not apply to the field.";
  const kind = valueKind(field.type, cond.operator);
  switch (kind) {
    case "none":
    case "flag":
      return undefined;
    case "number":
      return parseNumber(cond.value) === undefined ? "Enter a number." : undefined;
    case "numberRange": {
      const from = parseNumber(cond.value);
      const to = parseNumber(cond.valueTo);
      if (from === undefined || to === undefined) return "Enter both numbers.";
      return from > to ? "The first number must not be above the second." : undefined;
    }
    case "numbers":
      if (cond.items.length === 0) return "Add at least one number.";
      return cond.items.some((i) => parseNumber(i) === undefined) ? "Every value must be a number." : undefined;
    case "text":
      return cond.value.trim() ? undefined : "Enter a value.";
    case "texts":
      return cond.items.length === 0 ? "Add at least one value." : undefined;
    case "date":
      return ISO_DAY.test(cond.value) ? undefined : "Pick a date.";
    case "dateRange":
      if (!ISO_DAY.test(cond.value) || !ISO_DAY.test(cond.valueTo)) return "Pick both dates.";
      return cond.value > cond.valueTo ? "The first date must not be after the second." : undefined;
    case "days":
      return parseDays(cond.value) === undefined ? "Enter a whole number of days, 1 or more." : undefined;
    case "cohort":
      return /^\d+$/.test(cond.value) ? undefined : "Choose a cohort.";
    case "amplitudeCohort":
      return cond.value.trim() ? undefined : "Choose an Amplitude cohort.";
  }
}

/** Every incomplete condition (and empty nested group), by node id. */
export function treeProblems(root: DraftGroup, fields: ReadonlyMap<string, UserField>): Map<string, string> {
  const problems = new Map<string, string>();
  const visit = (group: DraftGroup, nested: boolean) => {
    if (nested && group.nodes.length === 0) problems.set(group.id, "Add a condition to this group or remove it.");
    for (const node of group.nodes) {
      if (node.type === "group") visit(node, true);
      else {
        const p = conditionProblem(node, fields.get(node.field));
        if (p) problems.set(node.id, p);
      }
    }
  };
  visit(root, false);
  if (countConditions(root) > MAX_CONDITIONS) problems.set(root.id, `Use at most ${MAX_CONDITIONS} conditions.`);
  if (depthOf(root) > MAX_DEPTH) problems.set(root.id, `Nest groups at most ${MAX_DEPTH} levels deep.`);
  return problems;
}

// ---------------------------------------------------------------------------------------
// Draft -> message.

type GroupInit = MessageInitShape<typeof ConditionGroupSchema>;
type ValueInit = MessageInitShape<typeof ValueSchema>;
type ConditionInit = MessageInitShape<typeof ConditionSchema>;

function valueOf(kind: ValueKind, text: string): ValueInit | undefined {
  switch (kind) {
    case "number":
    case "numberRange": {
      const n = parseNumber(text);
      return n === undefined ? undefined : { kind: { case: "number", value: n } };
    }
    case "text":
      return { kind: { case: "text", value: text.trim() } };
    case "date":
    case "dateRange":
      return ISO_DAY.test(text) ? { kind: { case: "date", value: text } } : undefined;
    case "days": {
      const d = parseDays(text);
      return d === undefined ? undefined : { kind: { case: "days", value: d } };
    }
    case "flag":
      return { kind: { case: "flag", value: text !== "false" } };
    case "cohort":
      return /^\d+$/.test(text) ? { kind: { case: "cohortId", value: BigInt(text) } } : undefined;
    case "amplitudeCohort":
      return { kind: { case: "amplitudeCohortId", value: text.trim() } };
    default:
      return undefined;
  }
}

function conditionInit(cond: DraftCondition, type: FieldType): ConditionInit {
  const kind = valueKind(type, cond.operator);
  let value: ValueInit | undefined;
  let valueTo: ValueInit | undefined;
  if (kind === "numbers") {
    const values = cond.items.map((i) => parseNumber(i)).filter((n): n is number => n !== undefined);
    value = { kind: { case: "numbers", value: { values } } };
  } else if (kind === "texts") {
    value = { kind: { case: "texts", value: { values: cond.items.map((i) => i.trim()).filter(Boolean) } } };
  } else if (kind !== "none") {
    value = valueOf(kind, cond.value);
    if (kind === "numberRange" || kind === "dateRange") valueTo = valueOf(kind, cond.valueTo);
  }
  return { field: cond.field, operator: cond.operator, value, valueTo };
}

/**
 * The ConditionGroup message of a draft. Conditions whose field is not in `fields` are sent
 * as text values (the server then names them). Call `treeProblems` first: incomplete
 * values are sent as unset.
 */
export function toConditionGroup(root: DraftGroup, fields: ReadonlyMap<string, UserField>): ConditionGroup {
  const convert = (group: DraftGroup): GroupInit => ({
    combinator: group.combinator,
    nodes: group.nodes.map((node) =>
      node.type === "group"
        ? { node: { case: "group" as const, value: convert(node) } }
        : { node: { case: "condition" as const, value: conditionInit(node, fields.get(node.field)?.type ?? FieldType.TEXT) } },
    ),
  });
  return create(ConditionGroupSchema, convert(root));
}

// ---------------------------------------------------------------------------------------
// Message -> draft.

function isoDayOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function valueText(value: Value | undefined): string {
  const k = value?.kind;
  switch (k?.case) {
    case "number":
      return String(k.value);
    case "text":
    case "date":
    case "amplitudeCohortId":
      return k.value;
    case "days":
    case "cohortId":
      return k.value.toString();
    case "flag":
      return k.value ? "true" : "false";
    case "timestamp":
      return isoDayOf(timestampDate(k.value));
    default:
      return "";
  }
}

function valueItems(value: Value | undefined): string[] {
  const k = value?.kind;
  if (k?.case === "texts") return [...k.value.values];
  if (k?.case === "numbers") return k.value.values.map(String);
  return [];
}

/** The editable draft of a saved or shared tree. */
export function fromConditionGroup(group: ConditionGroup | undefined): DraftGroup {
  if (!group) return emptyGroup();
  return {
    id: newNodeId(),
    type: "group",
    combinator: group.combinator === Combinator.OR ? Combinator.OR : Combinator.AND,
    nodes: group.nodes.flatMap((n): DraftNode[] => {
      if (n.node.case === "group") return [fromConditionGroup(n.node.value)];
      if (n.node.case === "condition") {
        const c = n.node.value;
        return [
          {
            id: newNodeId(),
            type: "condition",
            field: c.field,
            operator: c.operator,
            value: valueText(c.value),
            valueTo: valueText(c.valueTo),
            items: valueItems(c.value),
          },
        ];
      }
      return [];
    }),
  };
}

// ---------------------------------------------------------------------------------------
// URL form: the protobuf JSON of the tree (readable, stable, validated on the way back).

export function encodeFilter(group: ConditionGroup): string {
  return toJsonString(ConditionGroupSchema, group);
}

/** The tree in a URL param, or undefined when absent or not a valid tree. */
export function decodeFilter(text: string | null | undefined): ConditionGroup | undefined {
  if (!text) return undefined;
  try {
    return fromJsonString(ConditionGroupSchema, text);
  } catch {
    return undefined;
  }
}

/** A tree with no conditions at all (which matches every user). */
export function isEmptyTree(group: ConditionGroup | undefined): boolean {
  if (!group) return true;
  return group.nodes.every((n) => n.node.case === "group" && isEmptyTree(n.node.value));
}

// ---------------------------------------------------------------------------------------
// Server errors -> nodes.

/**
 * The draft node a server field-violation path points at, e.g.
 * `definition.nodes[2].group.nodes[0].condition.value` → the first condition of the third
 * node's group. Returns the deepest node the path reaches, or undefined.
 */
export function nodeIdForPath(root: DraftGroup, path: string): string | undefined {
  const start = path.indexOf("nodes[");
  if (start < 0) return undefined;
  let group: DraftGroup = root;
  let found: string | undefined;
  const re = /nodes\[(\d+)\](?:\.group)?/g;
  re.lastIndex = start;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path))) {
    const node: DraftNode | undefined = group.nodes[Number(m[1])];
    if (!node) break;
    found = node.id;
    if (node.type !== "group") break;
    group = node;
  }
  return found;
}

/** Server field violations about a tree (keys starting with `prefix`), mapped to node ids. */
export function nodeErrors(root: DraftGroup, fieldErrors: Record<string, string>, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, message] of Object.entries(fieldErrors)) {
    if (!path.startsWith(prefix)) continue;
    const id = nodeIdForPath(root, path) ?? root.id;
    if (!out.has(id)) out.set(id, message);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Words.

export interface NameLookup {
  fields: ReadonlyMap<string, UserField>;
  /** Cohort names by id (decimal). */
  cohorts?: ReadonlyMap<string, string>;
}

function humanise(name: string): string {
  const s = name.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function fieldLabel(name: string, fields: ReadonlyMap<string, UserField>): string {
  return fields.get(name)?.label || humanise(name);
}

/** One condition in words: "Total credits spent is at least 100". */
export function describeCondition(cond: DraftCondition, names: NameLookup): string {
  const field = names.fields.get(cond.field);
  const type = field?.type ?? FieldType.TEXT;
  const label = fieldLabel(cond.field, names.fields);
  const op = operatorLabel(cond.operator, type);
  const unit = field?.unit ? ` ${field.unit === "percent" ? "%" : field.unit}` : "";
  const n = (text: string) => {
    const v = Number(text.replace(/[\s,_]/g, ""));
    return text.trim() && Number.isFinite(v) ? v.toLocaleString() : text;
  };
  switch (valueKind(type, cond.operator)) {
    case "none":
      return `${label} ${op}`;
    case "numberRange":
      return `${label} ${op} ${n(cond.value)} and ${n(cond.valueTo)}${unit}`;
    case "number":
      return `${label} ${op} ${n(cond.value)}${unit}`;
    case "dateRange":
      return `${label} ${op} ${cond.value} and ${cond.valueTo}`;
    case "numbers":
    case "texts":
      return `${label} ${op} ${cond.items.join(", ")}`;
    case "days":
      return cond.operator === Operator.MORE_THAN_DAYS_AGO ? `${label} ${op} ${cond.value} days ago` : `${label} ${op} ${cond.value} days`;
    case "flag":
      return `${label} ${op} ${cond.value === "false" ? "no" : "yes"}`;
    case "cohort":
      return `${op} cohort “${names.cohorts?.get(cond.value) ?? `#${cond.value}`}”`.replace(/^./, (c) => c.toUpperCase());
    case "amplitudeCohort":
      return `${op} Amplitude cohort ${cond.value}`.replace(/^./, (c) => c.toUpperCase());
    default:
      return `${label} ${op} ${cond.value}${unit}`;
  }
}

/** A whole tree in one line: "A and (B or C)". */
export function describeTree(group: DraftGroup, names: NameLookup): string {
  if (group.nodes.length === 0) return group.combinator === Combinator.OR ? "Nobody" : "Everyone";
  const joiner = group.combinator === Combinator.OR ? " or " : " and ";
  return group.nodes
    .map((n) => (n.type === "group" ? `(${describeTree(n, names)})` : describeCondition(n, names)))
    .join(joiner);
}

export function fieldMap(fields: readonly UserField[] | undefined): Map<string, UserField> {
  return new Map((fields ?? []).map((f) => [f.name, f]));
}

/** Display names of the field groups of the catalogue (UserField.group). */
export const FIELD_GROUP_LABELS: Record<string, string> = {
  account: "Identity & account",
  wallet: "Wallet & credits",
  listings: "Listings",
  plans: "Plans & bundles",
  addons: "Add-ons",
  offers: "Offers",
  cdp: "CDP attributes",
  activity: "Activity",
  cohorts: "Cohorts",
};

export function groupLabel(group: string): string {
  return FIELD_GROUP_LABELS[group] ?? humanise(group);
}

/** `about_to_churn` → "About to churn". */
export function displayValue(value: string): string {
  if (!/^[a-z0-9_]+$/.test(value)) return value;
  const s = value.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Lowercase slug without spaces, as list fields store them (`cars`, `property`). */
export function slug(text: string): string {
  return text.trim().toLowerCase().replace(/\s+/g, "_");
}
