import { Link } from "react-router";
import { createColumnHelper, type ColumnDef } from "@tanstack/react-table";
import { Badge } from "../../components/Badge";
import { Tooltip } from "../../components/Tooltip";
import type { UserSummary } from "../../gen/cdp/v1/users_pb";
import { formatDate } from "../../lib/dates";
import { formatDateTime } from "../../lib/format";
import { ACCOUNT_STATUS_LABELS, ACCOUNT_STATUS_TONES, LIFECYCLE_DEFINITIONS, LIFECYCLE_LABELS, LIFECYCLE_TONES } from "../../lib/labels";
import { formatNumber } from "../../lib/numbers";

const column = createColumnHelper<UserSummary>();

export interface ExplorerColumn {
  /** Catalogue field name (also the sort key and the column id). */
  id: string;
  label: string;
  def: ColumnDef<UserSummary, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const missing = <span className="text-zinc-300">—</span>;
const num = (v: number | undefined) => (v === undefined ? missing : formatNumber(v));
const right = { className: "text-right tabular-nums" };



/** Every column the explorer can show, in display order; ids are catalogue field names. */
export const EXPLORER_COLUMNS: readonly ExplorerColumn[] = [
  {
    id: "user_id",
    label: "User",
    def: column.accessor((u) => u.userId, {
      id: "user_id",
      header: "User",
      cell: ({ row }) => (
        <Link to={`/users/${row.original.userId}`} className="font-mono font-medium text-brand-700 hover:underline">
          #{row.original.userId.toString()}
        </Link>
      ),
    }),
  },
  {
    id: "user_type",
    label: "Type",
    def: column.accessor((u) => u.userType ?? "", { id: "user_type", header: "Type", cell: ({ getValue }) => getValue() || missing }),
  },
  {
    id: "phone",
    label: "Phone",
    def: column.accessor((u) => u.phone ?? "", {
      id: "phone",
      header: "Phone",
      cell: ({ row }) =>
        row.original.phone ? (
          row.original.phoneMasked ? (
            <Tooltip content="Masked: your role can't see phone numbers">
              <span className="font-mono text-zinc-500">{row.original.phone}</span>
            </Tooltip>
          ) : (
            <span className="font-mono">{row.original.phone}</span>
          )
        ) : (
          missing
        ),
    }),
  },
  {
    id: "lifecycle_stage",
    label: "Lifecycle",
    def: column.accessor((u) => u.lifecycleStage, {
      id: "lifecycle_stage",
      header: "Lifecycle",
      cell: ({ row }) => {
        const stage = row.original.lifecycleStage;
        return (
          <Tooltip content={LIFECYCLE_DEFINITIONS[stage]}>
            <Badge tone={LIFECYCLE_TONES[stage]}>{LIFECYCLE_LABELS[stage]}</Badge>
          </Tooltip>
        );
      },
    }),
  },
  {
    id: "account_status",
    label: "Account status",
    def: column.accessor((u) => u.accountStatus, {
      id: "account_status",
      header: "Status",
      cell: ({ row }) => (
        <Badge tone={ACCOUNT_STATUS_TONES[row.original.accountStatus]} dot>
          {ACCOUNT_STATUS_LABELS[row.original.accountStatus]}
        </Badge>
      ),
    }),
  },
  {
    id: "favorite_vertical",
    label: "Favorite vertical",
    def: column.accessor((u) => u.favoriteVertical ?? "", { id: "favorite_vertical", header: "Vertical", cell: ({ getValue }) => getValue() || missing }),
  },
  {
    id: "total_listings_count",
    label: "Listings",
    def: column.accessor((u) => u.totalListingsCount, { id: "total_listings_count", header: "Listings", meta: right, cell: ({ getValue }) => num(getValue()) }),
  },
  {
    id: "paid_listings_count",
    label: "Paid listings",
    def: column.accessor((u) => u.paidListingsCount, { id: "paid_listings_count", header: "Paid", meta: right, cell: ({ getValue }) => num(getValue()) }),
  },
  {
    id: "total_credits_spent",
    label: "Credits spent",
    def: column.accessor((u) => u.totalCreditsSpent, { id: "total_credits_spent", header: "Credits spent", meta: right, cell: ({ getValue }) => num(getValue()) }),
  },
  {
    id: "current_credits_in_wallet",
    label: "Wallet",
    def: column.accessor((u) => u.currentCreditsInWallet, { id: "current_credits_in_wallet", header: "Wallet", meta: right, cell: ({ getValue }) => num(getValue()) }),
  },
  {
    id: "last_transaction_date",
    label: "Last transaction",
    def: column.accessor((u) => (u.lastTransactionDate ? Number(u.lastTransactionDate.seconds) : 0), {
      id: "last_transaction_date",
      header: "Last transaction",
      cell: ({ row }) =>
        row.original.lastTransactionDate ? (
          <Tooltip content={formatDateTime(row.original.lastTransactionDate)}>
            <span className="whitespace-nowrap">{formatDate(row.original.lastTransactionDate)}</span>
          </Tooltip>
        ) : (
          missing
        ),
    }),
  },
  {
    id: "days_since_last_transaction",
    label: "Days since last transaction",
    def: column.accessor((u) => u.daysSinceLastTransaction, {
      id: "days_since_last_transaction",
      header: "Days idle",
      meta: right,
      cell: ({ getValue }) => num(getValue()),
    }),
  },
  {
    id: "user_account_creation_date",
    label: "Account created",
    def: column.accessor((u) => (u.userAccountCreationDate ? Number(u.userAccountCreationDate.seconds) : 0), {
      id: "user_account_creation_date",
      header: "Created",
      cell: ({ row }) => <span className="whitespace-nowrap">{formatDate(row.original.userAccountCreationDate)}</span>,
    }),
  },
  {
    id: "is_block",
    label: "Blocked",
    def: column.accessor((u) => u.isBlock, {
      id: "is_block",
      header: "Blocked",
      cell: ({ getValue }) => (getValue() === 1 ? <Badge tone="red">Blocked</Badge> : getValue() === 0 ? <span className="text-zinc-500">No</span> : missing),
    }),
  },
  {
    id: "tags",
    label: "Tags",
    def: column.accessor((u) => u.tags.join(","), {
      id: "tags",
      header: "Tags",
      cell: ({ row }) =>
        row.original.tags.length ? (
          <span className="flex flex-wrap gap-1">
            {row.original.tags.map((t) => (
              <Badge key={t}>{t}</Badge>
            ))}
          </span>
        ) : (
          missing
        ),
    }),
  },
];

export const DEFAULT_COLUMNS: readonly string[] = [
  "user_id",
  "user_type",
  "phone",
  "lifecycle_stage",
  "favorite_vertical",
  "total_listings_count",
  "total_credits_spent",
  "current_credits_in_wallet",
  "last_transaction_date",
];
