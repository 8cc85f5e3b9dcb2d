-- Restores the bare permission checks of the earlier migrations.
DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT * FROM (VALUES
      ('public', 'users', 'users_read', $q$cdp.has_permission('users.read')$q$),
      ('cdp', 'identities', 'identities_read', $q$cdp.has_permission('users.read')$q$),
      ('cdp', 'cohorts', 'cohorts_read', $q$cdp.has_permission('cohorts.read')$q$),
      ('cdp', 'cohort_members', 'cohort_members_read', $q$cdp.has_permission('cohorts.read') OR cdp.has_permission('users.read')$q$),
      ('cdp', 'cohort_size_history', 'cohort_size_history_read', $q$cdp.has_permission('cohorts.read')$q$),
      ('cdp', 'cohort_membership_changes', 'cohort_changes_read', $q$cdp.has_permission('cohorts.read')$q$),
      ('cdp', 'integration_sync_runs', 'sync_runs_read', $q$cdp.has_permission('cohorts.read') OR cdp.has_permission('integrations.read')$q$),
      ('cdp', 'user_attributes', 'user_attributes_read', $q$cdp.has_permission('users.read') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('dashboard.read')$q$),
      ('cdp', 'user_stats', 'user_stats_read', $q$cdp.has_permission('users.read') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('dashboard.read')$q$)
    ) AS t(schema_name, table_name, policy_name, expr)
  LOOP
    IF EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = p.schema_name AND tablename = p.table_name AND policyname = p.policy_name) THEN
      EXECUTE format('ALTER POLICY %I ON %I.%I USING (%s)', p.policy_name, p.schema_name, p.table_name, p.expr);
    END IF;
  END LOOP;
END $$;
ALTER FUNCTION cdp.has_permission(text) PARALLEL UNSAFE;

DROP POLICY IF EXISTS cohort_changes_import ON cdp.cohort_membership_changes;
DROP POLICY IF EXISTS cohort_size_history_import ON cdp.cohort_size_history;
DROP POLICY IF EXISTS cohort_members_import_delete ON cdp.cohort_members;
DROP POLICY IF EXISTS cohort_members_import_insert ON cdp.cohort_members;
DROP POLICY IF EXISTS cohorts_import_update ON cdp.cohorts;
REVOKE INSERT, DELETE ON cdp.cohort_members FROM cdp_app;
REVOKE INSERT ON cdp.cohort_size_history, cdp.cohort_membership_changes FROM cdp_app;
REVOKE USAGE ON SEQUENCE cdp.cohort_membership_changes_id_seq FROM cdp_app;

DROP TABLE IF EXISTS cdp.amplitude_cohort_downloads, cdp.braze_profile_state, cdp.cohort_sync_members, cdp.cohort_sync_targets;
DROP INDEX IF EXISTS cdp.integration_sync_runs_pending_cohort_sync_idx;
DROP INDEX IF EXISTS cdp.cohort_members_joined_idx;
ALTER TABLE cdp.integration_sync_runs DROP COLUMN IF EXISTS external_id;
