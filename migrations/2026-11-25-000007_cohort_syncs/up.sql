-- Cohort syncs and imports (issue 6): what each external target already holds of a cohort
-- (so a sync sends only the difference and a retry after a failure resends nothing twice),
-- Braze profile enrichment state, and the Amplitude cohort downloads that count against
-- Amplitude's quota. Also lets an Amplitude import (run as the caller, under RLS) write the
-- membership of the imported cohort, and makes the permission checks of the bulk-read
-- policies cheap (see the end of this file).

-- Per cohort and target: the id the target knows the cohort by, and the last success.
CREATE TABLE cdp.cohort_sync_targets (
  cohort_id           bigint NOT NULL REFERENCES cdp.cohorts (id) ON DELETE CASCADE,
  target              text   NOT NULL CHECK (target IN ('amplitude', 'braze')),
  -- Amplitude: the cohort id Amplitude returned on the first upload (NULL until then).
  -- Braze: the value put in the users' `cdp_cohorts` array attribute (a slug fixed at the
  -- first sync, so renaming the cohort does not orphan what Braze holds).
  external_id         text,
  last_success_run_id bigint REFERENCES cdp.integration_sync_runs (id),
  last_synced_at      timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cohort_id, target)
);

-- The members each target holds, as far as the CDP knows: a user is added here only once
-- the target accepted the request that added them, and removed once it accepted their
-- removal. The next sync sends (members - this) and (this - members), so a run that fails
-- half-way is resumed by its retry without duplicates or losses.
CREATE TABLE cdp.cohort_sync_members (
  cohort_id bigint  NOT NULL,
  target    text    NOT NULL,
  user_id   integer NOT NULL,
  synced_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cohort_id, target, user_id),
  FOREIGN KEY (cohort_id, target) REFERENCES cdp.cohort_sync_targets (cohort_id, target) ON DELETE CASCADE
);

-- ListCohortMembers pages by most recently joined (keyset on (joined_at, user_id)).
CREATE INDEX cohort_members_joined_idx ON cdp.cohort_members (cohort_id, joined_at DESC, user_id DESC);

-- Id shown for a run (Amplitude cohort id or Braze attribute value).
ALTER TABLE cdp.integration_sync_runs ADD COLUMN external_id text;
-- At most one queued or running sync per cohort and target: SyncCohort returns that run.
CREATE UNIQUE INDEX integration_sync_runs_pending_cohort_sync_idx
  ON cdp.integration_sync_runs (integration, resource_id)
  WHERE operation = 'cohort_sync' AND status IN ('queued', 'running');

-- Braze profile enrichment: a hash of the attributes last accepted by Braze per user, so a
-- run pushes only users whose values changed.
CREATE TABLE cdp.braze_profile_state (
  user_id         integer PRIMARY KEY,
  attributes_hash text NOT NULL,
  pushed_at       timestamptz NOT NULL DEFAULT now()
);

-- Every cohort download requested from Amplitude (each one counts against its quota: 500
-- a month, 60 per 10 minutes per app). A request still being prepared is reused rather
-- than paid for twice.
CREATE TABLE cdp.amplitude_cohort_downloads (
  id                  bigserial PRIMARY KEY,
  amplitude_cohort_id text NOT NULL,
  request_id          text,
  status              text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'completed', 'failed')),
  cohort_id           bigint REFERENCES cdp.cohorts (id),
  downloaded_ids      bigint,
  matched_users       bigint,
  unmatched_ids       bigint,
  error               text,
  requested_by        uuid,
  requested_at        timestamptz NOT NULL DEFAULT now(),
  finished_at         timestamptz
);
CREATE INDEX amplitude_cohort_downloads_requested_idx ON cdp.amplitude_cohort_downloads (requested_at DESC);
CREATE INDEX amplitude_cohort_downloads_cohort_idx ON cdp.amplitude_cohort_downloads (amplitude_cohort_id, requested_at DESC);

-- Grants: the worker (owner) writes sync state and enrichment state; requests read them.
-- Downloads are written by ImportAmplitudeCohort as the caller.
GRANT SELECT ON cdp.cohort_sync_targets, cdp.cohort_sync_members, cdp.braze_profile_state TO cdp_app;
GRANT SELECT, INSERT, UPDATE ON cdp.amplitude_cohort_downloads TO cdp_app;
GRANT USAGE ON SEQUENCE cdp.amplitude_cohort_downloads_id_seq TO cdp_app;
-- ImportAmplitudeCohort replaces the membership of the imported cohort in the caller's
-- transaction (the policies below restrict it to imported cohorts and amplitude.import).
GRANT INSERT, DELETE ON cdp.cohort_members TO cdp_app;
GRANT INSERT ON cdp.cohort_size_history, cdp.cohort_membership_changes TO cdp_app;
GRANT USAGE ON SEQUENCE cdp.cohort_membership_changes_id_seq TO cdp_app;

ALTER TABLE cdp.cohort_sync_targets ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.cohort_sync_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.braze_profile_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.amplitude_cohort_downloads ENABLE ROW LEVEL SECURITY;

-- `(SELECT cdp.has_permission(..))` is an init plan evaluated once per statement; a bare call
-- is evaluated once per row (about 11 µs each: 11 s over a million rows).
CREATE POLICY cohort_sync_targets_read ON cdp.cohort_sync_targets FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('cohorts.read') OR cdp.has_permission('integrations.read')));
CREATE POLICY cohort_sync_members_read ON cdp.cohort_sync_members FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('cohorts.read')));
CREATE POLICY braze_profile_state_read ON cdp.braze_profile_state FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('integrations.read')));
CREATE POLICY amplitude_downloads_read ON cdp.amplitude_cohort_downloads FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('amplitude.import') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('integrations.read')));
CREATE POLICY amplitude_downloads_insert ON cdp.amplitude_cohort_downloads FOR INSERT TO cdp_app
  WITH CHECK ((SELECT cdp.has_permission('amplitude.import')));
CREATE POLICY amplitude_downloads_update ON cdp.amplitude_cohort_downloads FOR UPDATE TO cdp_app
  USING ((SELECT cdp.has_permission('amplitude.import'))) WITH CHECK ((SELECT cdp.has_permission('amplitude.import')));

-- An import may update its own cohort (size, freshness) and replace its membership.
CREATE POLICY cohorts_import_update ON cdp.cohorts FOR UPDATE TO cdp_app
  USING (source = 'amplitude_import' AND (SELECT cdp.has_permission('amplitude.import')))
  WITH CHECK (source = 'amplitude_import' AND (SELECT cdp.has_permission('amplitude.import')));
CREATE POLICY cohort_members_import_insert ON cdp.cohort_members FOR INSERT TO cdp_app
  WITH CHECK ((SELECT cdp.has_permission('amplitude.import'))
              AND cohort_id IN (SELECT id FROM cdp.cohorts WHERE source = 'amplitude_import'));
CREATE POLICY cohort_members_import_delete ON cdp.cohort_members FOR DELETE TO cdp_app
  USING ((SELECT cdp.has_permission('amplitude.import'))
         AND cohort_id IN (SELECT id FROM cdp.cohorts WHERE source = 'amplitude_import'));
CREATE POLICY cohort_size_history_import ON cdp.cohort_size_history FOR INSERT TO cdp_app
  WITH CHECK ((SELECT cdp.has_permission('amplitude.import'))
              AND cohort_id IN (SELECT id FROM cdp.cohorts WHERE source = 'amplitude_import'));
CREATE POLICY cohort_changes_import ON cdp.cohort_membership_changes FOR INSERT TO cdp_app
  WITH CHECK ((SELECT cdp.has_permission('amplitude.import'))
              AND cohort_id IN (SELECT id FROM cdp.cohorts WHERE source = 'amplitude_import'));

-- Cheap permission checks on the tables that previews, member lists and imports read in bulk.
-- The earlier policies call cdp.has_permission() bare, which PostgreSQL evaluates for every
-- row (a preview over a million users took 11 s instead of 0.2 s), and the function was
-- PARALLEL UNSAFE, which keeps every statement that calls it off parallel workers. The
-- expressions are unchanged, only wrapped in a scalar subquery (an init plan, evaluated once);
-- PARALLEL RESTRICTED lets that init plan run in the leader and the scan go parallel.
ALTER FUNCTION cdp.has_permission(text) PARALLEL RESTRICTED;
DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT * FROM (VALUES
      ('public', 'users', 'users_read', $q$(SELECT cdp.has_permission('users.read'))$q$),
      ('cdp', 'identities', 'identities_read', $q$(SELECT cdp.has_permission('users.read'))$q$),
      ('cdp', 'cohorts', 'cohorts_read', $q$(SELECT cdp.has_permission('cohorts.read'))$q$),
      ('cdp', 'cohort_members', 'cohort_members_read', $q$(SELECT cdp.has_permission('cohorts.read') OR cdp.has_permission('users.read'))$q$),
      ('cdp', 'cohort_size_history', 'cohort_size_history_read', $q$(SELECT cdp.has_permission('cohorts.read'))$q$),
      ('cdp', 'cohort_membership_changes', 'cohort_changes_read', $q$(SELECT cdp.has_permission('cohorts.read'))$q$),
      ('cdp', 'integration_sync_runs', 'sync_runs_read', $q$(SELECT cdp.has_permission('cohorts.read') OR cdp.has_permission('integrations.read'))$q$),
      ('cdp', 'user_attributes', 'user_attributes_read', $q$(SELECT cdp.has_permission('users.read') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('dashboard.read'))$q$),
      ('cdp', 'user_stats', 'user_stats_read', $q$(SELECT cdp.has_permission('users.read') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('dashboard.read'))$q$)
    ) AS t(schema_name, table_name, policy_name, expr)
  LOOP
    -- Only where the policy exists as created (the users tables come with migration 000004).
    IF EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = p.schema_name AND tablename = p.table_name AND policyname = p.policy_name) THEN
      EXECUTE format('ALTER POLICY %I ON %I.%I USING (%s)', p.policy_name, p.schema_name, p.table_name, p.expr);
    END IF;
  END LOOP;
END $$;
