-- Users (issue 5): the CDP-owned attributes of marketplace users, the per-user activity
-- rollup behind the explorer's activity fields and the lifecycle stage (DESIGN §8), the
-- known values of the catalogue's text fields, and the explorer's sort and search indexes.

-- CDP-owned per-user attributes (UserService.UpdateUser). No row = defaults (active, no
-- override, no tags). No foreign key to public.users: that table is ETL-owned and reloaded.
CREATE TABLE cdp.user_attributes (
  user_id                  integer PRIMARY KEY,
  account_status           text NOT NULL DEFAULT 'active'
                           CHECK (account_status IN ('active', 'under_review', 'suspended')),
  lifecycle_stage_override text
                           CHECK (lifecycle_stage_override IN ('new', 'activated', 'active', 'about_to_churn', 'churned', 'reactivated', 'dormant')),
  tags                     text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
  notes                    text NOT NULL DEFAULT '' CHECK (length(notes) <= 4000),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  updated_by               uuid
);
CREATE INDEX user_attributes_status_idx ON cdp.user_attributes (account_status) WHERE account_status <> 'active';
CREATE INDEX user_attributes_override_idx ON cdp.user_attributes (lifecycle_stage_override) WHERE lifecycle_stage_override IS NOT NULL;
CREATE INDEX user_attributes_tags_idx ON cdp.user_attributes USING gin (tags);

-- Lifecycle stage of a user on `today` (DESIGN §8; the first rule that holds wins). Shared by
-- the stats refresh and GetUser so there is one definition. Days are reporting-zone days.
CREATE FUNCTION cdp.lifecycle_stage(
  account_created    timestamp,  -- public.users.user_account_creation_date
  first_paid_listing timestamp,  -- public.users.first_paid_listing_date
  last_active        date,       -- latest activity day up to today
  reactivated_on     date,       -- first active day of the last 30 days if 30+ whole days without activity preceded it
  today              date
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN account_created >= (today - 29) AND first_paid_listing IS NULL THEN 'new'
    WHEN first_paid_listing >= (today - 29) THEN 'activated'
    WHEN last_active IS NULL THEN 'dormant'
    WHEN last_active <= today - 30 THEN 'churned'
    WHEN last_active <= today - 14 THEN 'about_to_churn'
    WHEN reactivated_on IS NOT NULL THEN 'reactivated'
    ELSE 'active'
  END
$$;

-- Per-user activity rollup as of `as_of` (a reporting-zone day), rebuilt by the worker job
-- `users.refresh_stats` from cdp.user_daily_activity (every 15 minutes and when a batch lands).
-- Windows of N days end on `as_of` and include it.
CREATE TABLE cdp.user_stats (
  user_id            integer PRIMARY KEY,
  as_of              date NOT NULL,
  first_active_day   date,
  last_active_day    date,
  active_days_7      integer NOT NULL DEFAULT 0,
  active_days_30     integer NOT NULL DEFAULT 0,
  active_days_90     integer NOT NULL DEFAULT 0,
  sessions_30        integer NOT NULL DEFAULT 0,
  session_seconds_30 bigint  NOT NULL DEFAULT 0,
  events_30          integer NOT NULL DEFAULT 0,
  listings_posted_30 integer NOT NULL DEFAULT 0,
  paid_listings_30   integer NOT NULL DEFAULT 0,
  transactions_30    integer NOT NULL DEFAULT 0,
  credits_spent_30   bigint  NOT NULL DEFAULT 0,
  -- The last active day before the 30-day window (how long the gap before it was).
  previous_active_day date,
  -- First active day in the 30-day window when at least 30 whole days without activity
  -- preceded it (previous activity on that day - 31 or earlier, as docs/metrics.md counts).
  reactivated_on     date,
  lifecycle_stage    text NOT NULL,
  -- Customer lifetime value in credits: lifetime credits spent (DESIGN §8).
  cltv               double precision NOT NULL DEFAULT 0,
  refreshed_at       timestamptz NOT NULL DEFAULT now()
);
-- Sort keys of the explorer on activity fields (keyset paging on (key, user_id)).
CREATE INDEX user_stats_last_active_idx ON cdp.user_stats (last_active_day, user_id);
CREATE INDEX user_stats_active_days_30_idx ON cdp.user_stats (active_days_30, user_id);
CREATE INDEX user_stats_cltv_idx ON cdp.user_stats (cltv, user_id);
CREATE INDEX user_stats_lifecycle_idx ON cdp.user_stats (lifecycle_stage, user_id);

-- The most frequent values of the catalogue's text and list fields (ListUserFields.values),
-- refreshed with the stats: a million-row GROUP BY per field is not a per-request query.
CREATE TABLE cdp.user_field_values (
  field        text NOT NULL,
  value        text NOT NULL,
  users        bigint NOT NULL,
  refreshed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (field, value)
);

-- Explorer sort keys on public.users: (key, user_id) so keyset pages walk one index in either
-- direction, nulls included (docs/db-schema.md "Users").
CREATE INDEX IF NOT EXISTS users_sort_created_idx ON public.users (user_account_creation_date, user_id);
CREATE INDEX IF NOT EXISTS users_sort_last_transaction_idx ON public.users (last_transaction_date, user_id);
CREATE INDEX IF NOT EXISTS users_sort_credits_spent_idx ON public.users (total_credits_spent, user_id);
CREATE INDEX IF NOT EXISTS users_sort_wallet_idx ON public.users (current_credits_in_wallet, user_id);
CREATE INDEX IF NOT EXISTS users_sort_listings_idx ON public.users (total_listings_count, user_id);
CREATE INDEX IF NOT EXISTS users_sort_paid_listings_idx ON public.users (paid_listings_count, user_id);
CREATE INDEX IF NOT EXISTS users_sort_days_since_tx_idx ON public.users (days_since_last_transaction, user_id);

-- Planner statistics for the expressions the condition engine writes (server/src/conditions):
-- without them `list && ARRAY[...]` and `lower(text) = ...` get default selectivities (0.5%),
-- and a filter matching 100,000 users is planned as if it matched 5,000 (measured: a keyset
-- page over a list condition took 609 ms instead of 8 ms). Built by the next ANALYZE.
CREATE STATISTICS IF NOT EXISTS public.users_verticals_expr_stats ON (coalesce(string_to_array(verticals_listed_in, ','), '{}'::text[])) FROM public.users;
CREATE STATISTICS IF NOT EXISTS public.users_levels_1_expr_stats ON (coalesce(string_to_array(levels_1_listed_in, ','), '{}'::text[])) FROM public.users;
CREATE STATISTICS IF NOT EXISTS public.users_plans_expr_stats ON (coalesce(string_to_array(plans_or_bundles_used, ','), '{}'::text[])) FROM public.users;
CREATE STATISTICS IF NOT EXISTS public.users_top_addons_expr_stats ON (coalesce(string_to_array(top_extra_addons, ','), '{}'::text[])) FROM public.users;
CREATE STATISTICS IF NOT EXISTS public.users_user_type_expr_stats ON (lower(user_type)) FROM public.users;
CREATE STATISTICS IF NOT EXISTS public.users_favorite_vertical_expr_stats ON (lower(favorite_vertical)) FROM public.users;
CREATE STATISTICS IF NOT EXISTS public.users_favorite_level_1_expr_stats ON (lower(favorite_level_1)) FROM public.users;
CREATE STATISTICS IF NOT EXISTS public.users_favorite_plan_expr_stats ON (lower(favorite_plan_or_bundle)) FROM public.users;
CREATE STATISTICS IF NOT EXISTS public.users_favorite_addon_expr_stats ON (lower(favorite_extra_addon)) FROM public.users;

-- Phone search ("digits anywhere in the number") through trigrams.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS users_phone_trgm_idx ON public.users USING gin ((phone::text) gin_trgm_ops);

-- Users whose phone contains `digits`, for callers holding users.read_pii (checked here, from
-- the permission tables). SECURITY DEFINER because LIKE is not leakproof: under RLS the
-- planner may not use the trigram index for it, and the search would scan every user.
CREATE FUNCTION cdp.user_ids_with_phone_digits(digits text) RETURNS SETOF integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, cdp AS $$
  SELECT u.user_id FROM public.users u
  WHERE cdp.has_permission('users.read_pii')
    AND digits ~ '^[0-9]{4,}$'
    AND u.phone::text LIKE '%' || digits || '%'
$$;
REVOKE ALL ON FUNCTION cdp.user_ids_with_phone_digits(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.user_ids_with_phone_digits(text) TO cdp_app;
GRANT EXECUTE ON FUNCTION cdp.lifecycle_stage(timestamp, timestamp, date, date, date) TO cdp_app, cdp_etl;

-- Grants: requests read everything here and write only attributes; the worker (owner)
-- writes the rollups.
GRANT SELECT, INSERT, UPDATE ON cdp.user_attributes TO cdp_app;
GRANT SELECT ON cdp.user_stats, cdp.user_field_values TO cdp_app;

ALTER TABLE cdp.user_attributes ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.user_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.user_field_values ENABLE ROW LEVEL SECURITY;

CREATE POLICY user_attributes_read ON cdp.user_attributes FOR SELECT TO cdp_app
  USING (cdp.has_permission('users.read') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('dashboard.read'));
CREATE POLICY user_attributes_insert ON cdp.user_attributes FOR INSERT TO cdp_app
  WITH CHECK (cdp.has_permission('users.write'));
CREATE POLICY user_attributes_update ON cdp.user_attributes FOR UPDATE TO cdp_app
  USING (cdp.has_permission('users.write')) WITH CHECK (cdp.has_permission('users.write'));
CREATE POLICY user_stats_read ON cdp.user_stats FOR SELECT TO cdp_app
  USING (cdp.has_permission('users.read') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('dashboard.read'));
CREATE POLICY user_field_values_read ON cdp.user_field_values FOR SELECT TO cdp_app
  USING (cdp.has_permission('users.read') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('dashboard.read'));
