-- Dashboard rollups (DESIGN §8, docs/metrics.md). The worker (table owner) rebuilds them from
-- the ETL-owned tables whenever a batch lands (`dashboard.rollup`, enqueued by the ingestion
-- watcher `etl.ingestion_watch`); DashboardService reads only these tables, never raw
-- activity, so a 90-day request touches a few hundred small rows.
--
-- Distinct active users over an arbitrary range cannot be added up from daily counts, so two
-- kinds of array are kept (both exact, see docs/metrics.md "How ranges are answered"):
--  * active_window_rollup.active_within[k + 1] = distinct users active in the k + 1 days
--    ending on `day` (k = 0 .. 1095); past the array's end the value stays the last element.
--  * segment/cohort rollups' returning_within[j] = users of the group active on `day` whose
--    previous activity was at most j days earlier; the distinct active users of a range
--    [A, B] are then sum over its days of (active_users - returning_within[day - A]).

-- One row: what the rollups cover and when they were last rebuilt.
CREATE TABLE cdp.dashboard_rollup_state (
  id                  boolean PRIMARY KEY DEFAULT true CHECK (id),
  -- First day with activity or an account creation; NULL before any data.
  first_day           date,
  -- The activity rollups are computed up to this day (the reporting "today" of the last run).
  through_day         date,
  churn_window_days   integer NOT NULL DEFAULT 30,
  -- Fingerprint of cdp.cohorts when the cohort rollups were last rebuilt.
  cohorts_fingerprint text NOT NULL DEFAULT '',
  updated_at          timestamptz,
  last_full_at        timestamptz,
  last_duration_ms    integer
);
INSERT INTO cdp.dashboard_rollup_state (id) VALUES (true);

-- Per day (reporting time zone): activity KPIs of the whole marketplace.
CREATE TABLE cdp.daily_activity_rollup (
  day             date PRIMARY KEY,
  dau             integer NOT NULL,  -- distinct users active on the day
  wau             integer NOT NULL,  -- ... in the 7 days ending on the day
  mau             integer NOT NULL,  -- ... in the 30 days ending on the day
  churned         integer NOT NULL,  -- last activity exactly churn_window_days before the day
  reactivated     integer NOT NULL,  -- active on the day after a gap of at least the window
  about_to_churn  integer NOT NULL,  -- last activity 14 .. window - 1 days before the day
  first_time      integer NOT NULL,  -- active on the day for the first time ever
  sessions        bigint  NOT NULL,
  session_seconds bigint  NOT NULL,
  events          bigint  NOT NULL,
  listings_posted bigint  NOT NULL,
  paid_listings   bigint  NOT NULL,
  transactions    bigint  NOT NULL,
  credits_spent   bigint  NOT NULL
);

-- Per day: active_within[k + 1] = distinct users active in [day - k, day] (see above).
CREATE TABLE cdp.active_window_rollup (
  day           date PRIMARY KEY,
  active_within integer[] NOT NULL
);

-- Per account-creation day: the marketplace funnel of the users created that day, as the
-- users table says now (each step requires the previous ones).
CREATE TABLE cdp.signup_funnel_rollup (
  day                      date PRIMARY KEY,
  signups                  integer NOT NULL,
  with_listing             integer NOT NULL,
  with_paid_listing        integer NOT NULL,
  with_transaction         integer NOT NULL
);

-- Current size and lifetime value of each user_type x favorite_vertical segment ('' = not set).
CREATE TABLE cdp.segment_rollup (
  user_type        text   NOT NULL,
  vertical         text   NOT NULL,
  users            bigint NOT NULL,
  spenders         bigint NOT NULL,  -- users with total_credits_spent > 0
  lifetime_credits bigint NOT NULL,  -- their total_credits_spent
  PRIMARY KEY (user_type, vertical)
);

-- Per day and segment: activity of the segment's users (by their current attributes).
CREATE TABLE cdp.segment_activity_rollup (
  day              date    NOT NULL,
  user_type        text    NOT NULL,
  vertical         text    NOT NULL,
  active_users     integer NOT NULL,
  credits_spent    bigint  NOT NULL,
  returning_within integer[] NOT NULL,
  PRIMARY KEY (day, user_type, vertical)
);

-- Per day and saved cohort: activity of the cohort's members (as of the last rollup).
CREATE TABLE cdp.cohort_activity_rollup (
  cohort_id        bigint  NOT NULL,
  day              date    NOT NULL,
  active_users     integer NOT NULL,
  credits_spent    bigint  NOT NULL,
  returning_within integer[] NOT NULL,
  PRIMARY KEY (cohort_id, day)
);
CREATE INDEX cohort_activity_rollup_day_idx ON cdp.cohort_activity_rollup (day);

-- Unified profiles and identity resolution, as of the last rollup.
CREATE TABLE cdp.profile_health_rollup (
  id                boolean PRIMARY KEY DEFAULT true CHECK (id),
  total_profiles    bigint NOT NULL,
  amplitude_matched bigint NOT NULL,
  braze_matched     bigint NOT NULL,
  computed_at       timestamptz NOT NULL
);

-- The ingestion watcher's cursor: every succeeded batch it has handed on, once.
CREATE TABLE cdp.ingestion_watch_cursor (
  batch_id         bigint PRIMARY KEY,
  source           text NOT NULL,
  -- The activity day the batch replaced (validation.scope.day), when it says.
  activity_day     date,
  seen_at          timestamptz NOT NULL DEFAULT now(),
  rollup_job_id    bigint,
  user_stats_job_id bigint
);

-- Created to be read: the worker writes as the owner, requests read as cdp_app.
GRANT SELECT ON cdp.dashboard_rollup_state, cdp.daily_activity_rollup, cdp.active_window_rollup,
  cdp.signup_funnel_rollup, cdp.segment_rollup, cdp.segment_activity_rollup,
  cdp.cohort_activity_rollup, cdp.profile_health_rollup, cdp.ingestion_watch_cursor TO cdp_app;

ALTER TABLE cdp.dashboard_rollup_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.daily_activity_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.active_window_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.signup_funnel_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.segment_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.segment_activity_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.cohort_activity_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.profile_health_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.ingestion_watch_cursor ENABLE ROW LEVEL SECURITY;

-- `(SELECT cdp.has_permission(..))` is an init plan evaluated once per statement; a bare call
-- is evaluated per row (about 11 µs each here: 11 s for a million rows).
CREATE POLICY dashboard_rollup_state_read ON cdp.dashboard_rollup_state FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('dashboard.read')));
CREATE POLICY daily_activity_rollup_read ON cdp.daily_activity_rollup FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('dashboard.read')));
CREATE POLICY active_window_rollup_read ON cdp.active_window_rollup FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('dashboard.read')));
CREATE POLICY signup_funnel_rollup_read ON cdp.signup_funnel_rollup FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('dashboard.read')));
CREATE POLICY segment_rollup_read ON cdp.segment_rollup FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('dashboard.read')));
CREATE POLICY segment_activity_rollup_read ON cdp.segment_activity_rollup FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('dashboard.read')));
-- Cohort figures also need the right to see cohorts.
CREATE POLICY cohort_activity_rollup_read ON cdp.cohort_activity_rollup FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('dashboard.read') AND cdp.has_permission('cohorts.read')));
CREATE POLICY profile_health_rollup_read ON cdp.profile_health_rollup FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('dashboard.read')));
CREATE POLICY ingestion_watch_cursor_read ON cdp.ingestion_watch_cursor FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('dashboard.read') OR cdp.has_permission('integrations.read')));
