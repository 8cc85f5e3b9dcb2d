import { useState, type ReactNode } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { ArrowLeft, ChevronRight, Fingerprint, History, Megaphone, UserRound, Users as UsersIcon } from "lucide-react";
import { useInvalidateService } from "../../api/invalidate";
import { Badge } from "../../components/Badge";
import { Card, CardHeader } from "../../components/Card";
import { useConditionSources } from "../../components/conditions/useConditionSources";
import { Skeleton } from "../../components/Spinner";
import { EmptyState, ErrorState } from "../../components/States";
import { Tooltip } from "../../components/Tooltip";
import { cx } from "../../components/cx";
import {
  AccountStatus,
  UserAccountSchema,
  UserAddonsSchema,
  UserListingsSchema,
  UserOffersSchema,
  UserPlanSpendSchema,
  UserPromotionStatus,
  UserService,
  UserWalletSchema,
  type UserProfile,
} from "../../gen/cdp/v1/users_pb";
import { formatDate } from "../../lib/dates";
import { formatDateTime, formatRelative } from "../../lib/format";
import {
  ACCOUNT_STATUS_LABELS,
  ACCOUNT_STATUS_TONES,
  LIFECYCLE_DEFINITIONS,
  LIFECYCLE_LABELS,
  LIFECYCLE_TONES,
  USER_PROMOTION_STATUS_LABELS,
} from "../../lib/labels";
import { formatNumber } from "../../lib/numbers";
import { Permission } from "../../lib/permissions";
import { useCan } from "../../stores/session";
import { toast } from "../../stores/toast";
import { AuditDiff } from "../admin/audit-log/AuditDiff";
import { ActivityCard } from "./profile/ActivityCard";
import { CdpAttributesCard } from "./profile/CdpAttributesCard";
import { ProfileGroup } from "./profile/ProfileFields";

function HeaderStat({ label, value, hint }: { label: string; value: ReactNode; hint?: string }) {
  return (
    <div className="min-w-28">
      <p className="text-xs text-zinc-500">{label}</p>
      <p className="mt-0.5 text-lg font-semibold text-zinc-900 tabular-nums" title={hint}>
        {value}
      </p>
    </div>
  );
}

function ProfileHeader({ profile }: { profile: UserProfile }) {
  const a = profile.account;
  const status = profile.cdpAttributes?.accountStatus ?? 0;
  const overridden = profile.lifecycleStage !== profile.computedLifecycleStage;
  return (
    <Card className="mb-4">
      <div className="flex flex-wrap items-center gap-6 px-6 py-5">
        <div className="flex min-w-0 flex-1 items-center gap-4">
          <span className="flex size-12 shrink-0 items-center justify-center rounded-full bg-brand-50 text-brand-600 ring-1 ring-brand-100">
            <UserRound className="size-6" />
          </span>
          <div className="min-w-0">
            <h1 className="flex flex-wrap items-center gap-2 text-xl font-semibold tracking-tight text-zinc-900">
              User #{profile.userId.toString()}
              <Tooltip content={`${LIFECYCLE_DEFINITIONS[profile.lifecycleStage]}${overridden ? ` Set by an admin; computed: ${LIFECYCLE_LABELS[profile.computedLifecycleStage]}.` : ""}`}>
                <Badge tone={LIFECYCLE_TONES[profile.lifecycleStage]}>
                  {LIFECYCLE_LABELS[profile.lifecycleStage]}
                  {overridden && " (override)"}
                </Badge>
              </Tooltip>
              {status !== AccountStatus.ACTIVE && status !== AccountStatus.UNSPECIFIED && (
                <Badge tone={ACCOUNT_STATUS_TONES[status]} dot>
                  {ACCOUNT_STATUS_LABELS[status]}
                </Badge>
              )}
              {a?.isBlock === 1 && <Badge tone="red">Blocked by the marketplace</Badge>}
            </h1>
            <p className="mt-1 flex flex-wrap gap-x-2 text-[13px] text-zinc-500">
              <span>{a?.userType || "No user type"}</span>
              <span aria-hidden>·</span>
              <span className={cx("font-mono", profile.phoneMasked && "text-zinc-400")}>{a?.phone || "no phone"}</span>
              <span aria-hidden>·</span>
              <span>Joined {formatDate(a?.userAccountCreationDate)}</span>
            </p>
          </div>
        </div>
        <div className="flex flex-wrap gap-6 border-zinc-100 lg:border-l lg:pl-6">
          <HeaderStat label="Lifetime value" value={`${formatNumber(Math.round(profile.cltv))} cr`} hint="Credits spent over the user's lifetime" />
          <HeaderStat label="Wallet" value={`${formatNumber(profile.wallet?.currentCreditsInWallet ?? 0)} cr`} />
          <HeaderStat label="Listings" value={formatNumber(profile.listings?.totalListingsCount ?? 0)} />
          <HeaderStat label="Last transaction" value={profile.wallet?.lastTransactionDate ? formatRelative(profile.wallet.lastTransactionDate) : "Never"} />
        </div>
      </div>
    </Card>
  );
}

function LinkList({ children }: { children: ReactNode }) {
  return <ul className="divide-y divide-zinc-100">{children}</ul>;
}

function CohortsCard({ profile }: { profile: UserProfile }) {
  return (
    <Card>
      <CardHeader title="Cohorts" description="Saved cohorts the user belongs to now." />
      {profile.cohortMemberships.length === 0 ? (
        <EmptyState className="!py-8" icon={<UsersIcon className="size-5" />} title="In no saved cohort" />
      ) : (
        <LinkList>
          {profile.cohortMemberships.map((c) => (
            <li key={c.cohortId.toString()}>
              <Link to={`/cohorts/${c.cohortId}`} className="group flex items-center justify-between gap-3 px-5 py-2.5 hover:bg-zinc-50">
                <span className="min-w-0">
                  <span className="block truncate text-[13px] font-medium text-zinc-900 group-hover:text-brand-700">{c.name}</span>
                  <span className="text-xs text-zinc-500">Joined {formatRelative(c.joinedAt)}</span>
                </span>
                <ChevronRight className="size-4 text-zinc-300 group-hover:text-zinc-500" />
              </Link>
            </li>
          ))}
        </LinkList>
      )}
    </Card>
  );
}

function PromotionsCard({ profile }: { profile: UserProfile }) {
  return (
    <Card>
      <CardHeader title="Promotions" description="Running promotions the user can redeem, and what they redeemed." />
      {profile.promotions.length === 0 ? (
        <EmptyState className="!py-8" icon={<Megaphone className="size-5" />} title="No promotions" />
      ) : (
        <LinkList>
          {profile.promotions.map((p) => (
            <li key={p.promotionId.toString()}>
              <Link to={`/promotions/${p.promotionId}`} className="group flex items-center justify-between gap-3 px-5 py-2.5 hover:bg-zinc-50">
                <span className="min-w-0">
                  <span className="block truncate text-[13px] font-medium text-zinc-900 group-hover:text-brand-700">{p.name}</span>
                  <span className="text-xs text-zinc-500">
                    {p.status === UserPromotionStatus.REDEEMED && p.redeemedAt
                      ? `Redeemed ${formatRelative(p.redeemedAt)}`
                      : p.endsAt
                        ? `Ends ${formatRelative(p.endsAt)}`
                        : "No end date"}
                  </span>
                </span>
                <Badge tone={p.status === UserPromotionStatus.REDEEMED ? "neutral" : "green"}>{USER_PROMOTION_STATUS_LABELS[p.status]}</Badge>
              </Link>
            </li>
          ))}
        </LinkList>
      )}
    </Card>
  );
}

function IdentitiesCard({ profile }: { profile: UserProfile }) {
  const ids = [
    { label: "Amplitude user id", value: profile.identities?.amplitudeId },
    { label: "Braze external id", value: profile.identities?.brazeId },
  ];
  return (
    <Card>
      <CardHeader title="Identities" description="The user's ids in the external tools, from identity resolution." />
      <dl className="divide-y divide-zinc-100 px-5 text-[13px]">
        <div className="flex items-center justify-between gap-3 py-2.5">
          <dt className="text-zinc-500">Marketplace user id</dt>
          <dd className="font-mono font-medium text-zinc-900">{profile.userId.toString()}</dd>
        </div>
        {ids.map((i) => (
          <div key={i.label} className="flex items-center justify-between gap-3 py-2.5">
            <dt className="flex items-center gap-1.5 text-zinc-500">
              <Fingerprint className="size-3.5" aria-hidden />
              {i.label}
            </dt>
            <dd>{i.value ? <span className="font-mono font-medium text-zinc-900">{i.value}</span> : <Badge tone="amber">Not matched</Badge>}</dd>
          </div>
        ))}
      </dl>
    </Card>
  );
}

function HistoryCard({ profile, canReadAudit }: { profile: UserProfile; canReadAudit: boolean }) {
  const [open, setOpen] = useState<string | null>(null);
  return (
    <Card>
      <CardHeader title="Change history" description="The latest changes to this user's CDP attributes, newest first." />
      {!canReadAudit ? (
        <EmptyState className="!py-8" icon={<History className="size-5" />} title="Your role can't read the change history" description="Admins see who changed what here." />
      ) : profile.recentAuditEntries.length === 0 ? (
        <EmptyState className="!py-8" icon={<History className="size-5" />} title="No changes yet" description="Changes to the CDP attributes are recorded here." />
      ) : (
        <ol className="divide-y divide-zinc-100">
          {profile.recentAuditEntries.map((e) => {
            const id = e.id.toString();
            return (
              <li key={id} className="px-5 py-3">
                <button
                  type="button"
                  aria-expanded={open === id}
                  onClick={() => setOpen(open === id ? null : id)}
                  className="flex w-full items-center justify-between gap-3 text-left"
                >
                  <span className="text-[13px] text-zinc-800">
                    <code className="font-mono text-[12.5px] font-medium text-zinc-900">{e.action}</code> by {e.actorEmail || e.actorId || "the CDP"}
                  </span>
                  <span className="flex items-center gap-2 text-xs text-zinc-500">
                    <Tooltip content={formatDateTime(e.createdAt)}>
                      <span>{formatRelative(e.createdAt)}</span>
                    </Tooltip>
                    <ChevronRight className={cx("size-4 transition-transform", open === id && "rotate-90")} />
                  </span>
                </button>
                {open === id && (
                  <div className="mt-3">
                    <AuditDiff before={e.before} after={e.after} />
                  </div>
                )}
              </li>
            );
          })}
        </ol>
      )}
    </Card>
  );
}

function ProfileSkeleton() {
  return (
    <div aria-busy="true" aria-label="Loading" className="space-y-4">
      <Card className="flex items-center gap-4 p-6">
        <Skeleton className="size-12 rounded-full" />
        <div className="flex-1 space-y-2">
          <Skeleton className="h-5 w-48" />
          <Skeleton className="h-3 w-72" />
        </div>
      </Card>
      <div className="grid gap-4 lg:grid-cols-3">
        <Card className="h-72 p-5 lg:col-span-2">
          <Skeleton className="h-full w-full" />
        </Card>
        <Card className="h-72 p-5">
          <Skeleton className="h-full w-full" />
        </Card>
      </div>
    </div>
  );
}

/** A user's full profile: every field grouped, lifecycle, value, activity, memberships, history. */
export function UserProfilePage() {
  const { userId = "" } = useParams();
  const valid = /^\d+$/.test(userId);
  const canWrite = useCan(Permission.usersWrite);
  const canReadAudit = useCan(Permission.auditRead);
  const sources = useConditionSources();
  const invalidate = useInvalidateService(UserService);
  const query = useQuery(UserService.method.getUser, { userId: valid ? BigInt(userId) : 0n }, { enabled: valid });
  const update = useMutation(UserService.method.updateUser, { onSuccess: invalidate });
  const profile = query.data?.profile;

  return (
    <>
      <Link to="/users" className="mb-4 inline-flex items-center gap-1.5 text-[13px] font-medium text-zinc-500 hover:text-zinc-800">
        <ArrowLeft className="size-4" />
        Users
      </Link>
      {!valid ? (
        <Card>
          <EmptyState title="This is not a user id" description="User ids are whole numbers, like /users/12345." />
        </Card>
      ) : query.isPending ? (
        <ProfileSkeleton />
      ) : query.isError ? (
        <Card>
          <ErrorState error={query.error} onRetry={() => void query.refetch()} />
        </Card>
      ) : profile ? (
        <div className="space-y-4">
          <ProfileHeader profile={profile} />
          <div className="grid gap-4 lg:grid-cols-3">
            <div className="lg:col-span-2">
              <ActivityCard activity={profile.activity} />
            </div>
            <CdpAttributesCard
              key={profile.cdpAttributes?.updatedAt?.seconds.toString() ?? "new"}
              attributes={profile.cdpAttributes}
              computedStage={profile.computedLifecycleStage}
              canWrite={canWrite}
              onSave={async (request) => {
                await update.mutateAsync(request);
                toast("success", "Attributes saved", `User #${profile.userId} was updated.`);
              }}
            />
          </div>
          <div className="grid gap-4 lg:grid-cols-3">
            <CohortsCard profile={profile} />
            <PromotionsCard profile={profile} />
            <IdentitiesCard profile={profile} />
          </div>
          <h2 className="pt-2 text-[15px] font-semibold text-zinc-900">Marketplace profile</h2>
          <div className="grid items-start gap-4 lg:grid-cols-2">
            <div className="space-y-4">
              <ProfileGroup title="Identity & account" schema={UserAccountSchema} message={profile.account} fields={sources.fieldsByName} phoneMasked={profile.phoneMasked} />
              <ProfileGroup title="Wallet & credits" schema={UserWalletSchema} message={profile.wallet} fields={sources.fieldsByName} />
              <ProfileGroup title="Offers" schema={UserOffersSchema} message={profile.offers} fields={sources.fieldsByName} />
            </div>
            <div className="space-y-4">
              <ProfileGroup title="Listings" schema={UserListingsSchema} message={profile.listings} fields={sources.fieldsByName} />
              <ProfileGroup title="Plans & bundles" schema={UserPlanSpendSchema} message={profile.plans} fields={sources.fieldsByName} />
              <ProfileGroup title="Add-ons" schema={UserAddonsSchema} message={profile.addons} fields={sources.fieldsByName} />
            </div>
          </div>
          <HistoryCard profile={profile} canReadAudit={canReadAudit} />
        </div>
      ) : null}
    </>
  );
}
