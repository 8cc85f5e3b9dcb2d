-- Foundation: schemas, database roles, the Supabase-compatible auth helpers, the ETL-owned
-- tables (public.users exactly as the brief defines it, activity, identities, ingestion
-- batches) and the durable jobs table. Identity, permissions and audit follow in 000002.

-- Database roles. `cdp_app` is what every API request runs as (SET LOCAL ROLE, so RLS
-- applies); `cdp_etl` is what the Airflow DAGs write with. Both are NOLOGIN group roles: the
-- connecting user is made a member so it may switch to them.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cdp_app') THEN
    CREATE ROLE cdp_app NOLOGIN NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cdp_etl') THEN
    CREATE ROLE cdp_etl NOLOGIN NOBYPASSRLS;
  END IF;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT cdp_app, cdp_etl TO %I', current_user);
  END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS cdp;
CREATE SCHEMA IF NOT EXISTS auth;
GRANT USAGE ON SCHEMA cdp, auth TO cdp_app, cdp_etl;

-- auth.uid() / auth.jwt() exactly as Supabase defines them (supabase/auth migrations
-- 20220224000811, 20220531120530). On Supabase they already exist and are left alone.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'auth' AND p.proname = 'uid') THEN
    EXECUTE $f$
      CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $b$
        SELECT coalesce(
          nullif(current_setting('request.jwt.claim.sub', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
        )::uuid
      $b$ $f$;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'auth' AND p.proname = 'jwt') THEN
    EXECUTE $f$
      CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $b$
        SELECT coalesce(
          nullif(current_setting('request.jwt.claim', true), ''),
          nullif(current_setting('request.jwt.claims', true), '')
        )::jsonb
      $b$ $f$;
  END IF;
END $$;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.jwt() TO cdp_app, cdp_etl;

-- The marketplace users table, exactly as the brief defines it. In production it already
-- exists (loaded by ETL), so it is only created when absent.
CREATE TABLE IF NOT EXISTS public.users (
user_id integer not null,
user_type text null,
phone bigint null,
current_credits_in_wallet double precision null,
is_block integer null,
user_account_creation_date timestamp without time zone null,
first_paid_listing_date timestamp without time zone null,
last_paid_listing_date timestamp without time zone null,
first_transaction_date timestamp without time zone null,
last_transaction_date timestamp without time zone null,
days_since_last_paid_listing integer null,
days_since_last_paid_transaction integer null,
days_since_last_transaction integer null,
active_months_last_6 double precision null,
active_weeks_last_12 double precision null,
paid_listings_count integer null,
free_listings_count integer null,
total_listings_count integer null,
office_listings_count integer null,
total_credits_spent integer null,
total_premium_credits_spent integer null,
total_free_credits_spent integer null,
extra_addons_count integer null,
extra_addons_total_credits double precision null,
extra_addons_premium_credits double precision null,
extra_addons_free_credits double precision null,
verticals_listed_in text null,
levels_1_listed_in text null,
plans_or_bundles_used text null,
favorite_vertical text null,
favorite_level_1 text null,
number_of_verticals_listed_in integer null,
number_of_level1_categories_listed_in integer null,
is_multivertical_user integer null,
favorite_plan_or_bundle text null,
favorite_extra_addon text null,
top_extra_addons text null,
basic_listings_count integer null,
basic_credits_spent integer null,
pro_listings_count integer null,
pro_credits_spent integer null,
extra_listings_count integer null,
extra_credits_spent integer null,
plus_listings_count integer null,
plus_credits_spent integer null,
super_listings_count integer null,
super_credits_spent integer null,
standard_listings_count integer null,
standard_credits_spent integer null,
premium_listings_count integer null,
premium_credits_spent integer null,
optimum_listings_count integer null,
optimum_credits_spent integer null,
car_offices_listings_count integer null,
car_offices_credits_spent integer null,
property_offices_listings_count integer null,
property_offices_credits_spent integer null,
electronics_shops_listings_count integer null,
electronics_shops_credits_spent integer null,
addon_pinning_listings_count integer null,
addon_pinning_credits_spent integer null,
addon_extended_listings_count integer null,
addon_extended_credits_spent integer null,
addon_promoted_listings_count integer null,
addon_promoted_credits_spent integer null,
addon_pinning_shuffle_listings_count integer null,
addon_pinning_shuffle_credits_spent integer null,
addon_premium_listings_count integer null,
addon_premium_credits_spent integer null,
addon_power_pin_listings_count integer null,
addon_power_pin_credits_spent integer null,
addon_refresh_listings_count integer null,
addon_refresh_credits_spent integer null,
addon_vip_listings_count integer null,
addon_vip_credits_spent integer null,
offer_50_days_used integer null,
offer_baraka_days_used integer null,
offer_total_days_used integer null,
offer_50_percentage double precision null,
offer_baraka_percentage double precision null,
offer_total_percentage double precision null,
constraint users_pkey primary key (user_id)
);

-- Sort and search keys of the user explorer (docs/db-schema.md lists them).
CREATE INDEX IF NOT EXISTS users_phone_text_idx ON public.users ((phone::text) text_pattern_ops);
CREATE INDEX IF NOT EXISTS users_account_creation_idx ON public.users (user_account_creation_date);
CREATE INDEX IF NOT EXISTS users_last_transaction_idx ON public.users (last_transaction_date);
CREATE INDEX IF NOT EXISTS users_total_credits_spent_idx ON public.users (total_credits_spent);
CREATE INDEX IF NOT EXISTS users_total_listings_idx ON public.users (total_listings_count);
CREATE INDEX IF NOT EXISTS users_wallet_idx ON public.users (current_credits_in_wallet);
CREATE INDEX IF NOT EXISTS users_type_vertical_idx ON public.users (user_type, favorite_vertical);

-- ETL-owned: one row per user and active day (DESIGN §3). A row means "active that day".
CREATE TABLE cdp.user_daily_activity (
  user_id         integer NOT NULL,
  day             date    NOT NULL,
  sessions        integer NOT NULL DEFAULT 0,
  session_seconds integer NOT NULL DEFAULT 0,
  events          integer NOT NULL DEFAULT 0,
  listings_posted integer NOT NULL DEFAULT 0,
  paid_listings   integer NOT NULL DEFAULT 0,
  transactions    integer NOT NULL DEFAULT 0,
  credits_spent   integer NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, day)
);
CREATE INDEX user_daily_activity_day_idx ON cdp.user_daily_activity (day, user_id);

-- ETL-owned: the user's ids in Amplitude and Braze (identity resolution).
CREATE TABLE cdp.identities (
  user_id      integer PRIMARY KEY,
  amplitude_id text,
  braze_id     text,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identities_amplitude_idx ON cdp.identities (amplitude_id);

-- ETL-owned: one row per load. A finished batch is how the worker learns new data arrived.
CREATE TABLE cdp.ingestion_batches (
  id          bigserial PRIMARY KEY,
  source      text NOT NULL CHECK (source IN ('users', 'activity', 'identities')),
  dag_run_id  text,
  rows        bigint NOT NULL DEFAULT 0,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  validation  jsonb,
  error       text
);
CREATE INDEX ingestion_batches_source_idx ON cdp.ingestion_batches (source, started_at DESC);

-- The durable job queue of `cdp worker` (DESIGN §2). Claimed with FOR UPDATE SKIP LOCKED; a
-- running job holds a lease (`locked_until`) that its worker renews, so a job whose worker
-- died is claimed again once the lease runs out. `dead` is the dead-letter state.
CREATE TABLE cdp.jobs (
  id           bigserial PRIMARY KEY,
  kind         text NOT NULL,
  payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
  status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'dead')),
  attempts     integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 8 CHECK (max_attempts > 0),
  run_at       timestamptz NOT NULL DEFAULT now(),
  locked_by    text,
  locked_until timestamptz,
  last_error   text,
  dedupe_key   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
CREATE INDEX jobs_ready_idx ON cdp.jobs (run_at) WHERE status = 'queued';
CREATE INDEX jobs_lease_idx ON cdp.jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_kind_idx ON cdp.jobs (kind, created_at DESC);
-- At most one pending job per (kind, dedupe_key): enqueueing the same refresh twice is a no-op.
CREATE UNIQUE INDEX jobs_dedupe_idx ON cdp.jobs (kind, dedupe_key)
  WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');

-- The ETL role writes only the ETL-owned tables.
GRANT SELECT, INSERT, UPDATE, DELETE ON public.users, cdp.user_daily_activity, cdp.identities TO cdp_etl;
GRANT SELECT, INSERT, UPDATE ON cdp.ingestion_batches TO cdp_etl;
GRANT USAGE ON SEQUENCE cdp.ingestion_batches_id_seq TO cdp_etl;
-- The application reads them (RLS decides which rows, migration 000002).
GRANT SELECT ON public.users, cdp.user_daily_activity, cdp.identities, cdp.ingestion_batches TO cdp_app;
-- API requests may enqueue jobs and read their state; only the worker (table owner) runs them.
GRANT SELECT, INSERT ON cdp.jobs TO cdp_app;
GRANT USAGE ON SEQUENCE cdp.jobs_id_seq TO cdp_app;
