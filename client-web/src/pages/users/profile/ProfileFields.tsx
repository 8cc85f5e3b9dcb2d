import type { DescMessage } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Badge } from "../../../components/Badge";
import { Card, CardHeader } from "../../../components/Card";
import { InfoTip } from "../../../components/InfoTip";
import { Tooltip } from "../../../components/Tooltip";
import { FieldType, type UserField } from "../../../gen/cdp/v1/users_pb";
import { fieldLabel } from "../../../lib/conditions";
import { formatDate } from "../../../lib/dates";
import { formatDateTime, formatRelative } from "../../../lib/format";
import { formatDuration, formatNumber } from "../../../lib/numbers";

function isTimestamp(v: unknown): v is Timestamp {
  return typeof v === "object" && v !== null && (v as { $typeName?: string }).$typeName === "google.protobuf.Timestamp";
}

const none = <span className="text-zinc-400">—</span>;

/** One value of `public.users`, readable: dates, lists, flags and units. */
function FieldValue({ name, value, field, masked }: { name: string; value: unknown; field: UserField | undefined; masked?: boolean }) {
  if (value === undefined || value === null || value === "") return none;
  // Identifiers are not quantities.
  if (name === "user_id" || name === "phone") {
    return masked ? (
      <Tooltip content="Masked: your role can't see phone numbers">
        <span className="font-mono text-zinc-500">{String(value)}</span>
      </Tooltip>
    ) : (
      <span className="font-mono">{String(value)}</span>
    );
  }
  if (isTimestamp(value)) {
    return (
      <Tooltip content={formatDateTime(value)}>
        <span>
          {formatDate(value)} <span className="text-zinc-400">· {formatRelative(value)}</span>
        </span>
      </Tooltip>
    );
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return none;
    return (
      <span className="flex flex-wrap justify-end gap-1">
        {value.map((v) => (
          <Badge key={String(v)}>{String(v)}</Badge>
        ))}
      </span>
    );
  }
  if ((field?.type === FieldType.BOOLEAN || (!field && name.startsWith("is_"))) && typeof value === "number") return <>{value === 1 ? "Yes" : "No"}</>;
  if (typeof value === "number" || typeof value === "bigint") {
    if (field?.unit === "percent") return <>{formatNumber(Number(value))}%</>;
    if (field?.unit === "seconds") return <>{formatDuration(value)}</>;
    if (field?.unit === "days") return <>{formatNumber(value)} days</>;
    return <>{formatNumber(value)}</>;
  }
  return <>{String(value)}</>;
}

interface Pair {
  prefix: string;
  listings: string;
  credits: string;
}

/** `basic_listings_count` + `basic_credits_spent` → a row of the per-plan table. */
function pairsOf(names: readonly string[]): Pair[] {
  const pairs: Pair[] = [];
  for (const n of names) {
    const m = /^(.*)_listings_count$/.exec(n);
    if (m && names.includes(`${m[1]}_credits_spent`)) pairs.push({ prefix: m[1], listings: n, credits: `${m[1]}_credits_spent` });
  }
  return pairs;
}

/**
 * One group of the profile (a message of UserProfile: account, wallet, listings, plans,
 * add-ons, offers) as a labelled list; per-plan and per-add-on listing/credit pairs become a
 * small table. Labels, units and definitions come from the field catalogue.
 */
export function ProfileGroup({
  title,
  schema,
  message,
  fields,
  skip = [],
  phoneMasked,
}: {
  title: string;
  schema: DescMessage;
  message: object | undefined;
  fields: ReadonlyMap<string, UserField>;
  skip?: readonly string[];
  phoneMasked?: boolean;
}) {
  const all = schema.fields.filter((f) => !skip.includes(f.name));
  const names = all.map((f) => f.name);
  const pairs = pairsOf(names);
  const paired = new Set(pairs.flatMap((p) => [p.listings, p.credits]));
  const singles = all.filter((f) => !paired.has(f.name));
  const read = (name: string) => {
    const f = schema.fields.find((x) => x.name === name);
    return f && message ? (message as Record<string, unknown>)[f.localName] : undefined;
  };
  const pairLabel = (p: Pair) => {
    const known = fields.get(p.listings)?.label;
    if (known) return known.replace(/ listings$/i, "");
    const words = p.prefix.replace(/^addon_/, "").replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  };

  return (
    <Card>
      <CardHeader title={title} />
      <dl className="divide-y divide-zinc-100 px-5">
        {singles.map((f) => (
          <div key={f.name} className="flex items-start justify-between gap-4 py-2 text-[13px]">
            <dt className="flex items-center gap-1 text-zinc-500">
              {fieldLabel(f.name, fields)}
              <InfoTip content={fields.get(f.name)?.description} label={`About ${fieldLabel(f.name, fields)}`} />
            </dt>
            <dd className="text-right font-medium text-zinc-900 tabular-nums">
              <FieldValue name={f.name} value={read(f.name)} field={fields.get(f.name)} masked={f.name === "phone" && phoneMasked} />
            </dd>
          </div>
        ))}
      </dl>
      {pairs.length > 0 && (
        <div className="px-5 pt-2 pb-4">
          <table className="w-full text-[13px]">
            <thead>
              <tr className="text-left text-xs text-zinc-500">
                <th scope="col" className="py-1.5 font-medium">
                  {title === "Add-ons" ? "Add-on" : "Plan or bundle"}
                </th>
                <th scope="col" className="py-1.5 text-right font-medium">
                  Listings
                </th>
                <th scope="col" className="py-1.5 text-right font-medium">
                  Credits
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100">
              {pairs.map((p) => {
                const listings = read(p.listings) as number | undefined;
                const credits = read(p.credits) as number | undefined;
                const zero = !listings && !credits;
                return (
                  <tr key={p.prefix} className={zero ? "text-zinc-400" : "text-zinc-800"}>
                    <td className="py-1.5">{pairLabel(p)}</td>
                    <td className="py-1.5 text-right tabular-nums">{listings === undefined ? "—" : formatNumber(listings)}</td>
                    <td className="py-1.5 text-right tabular-nums">{credits === undefined ? "—" : formatNumber(credits)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
