DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT * FROM (VALUES
      ('promotions', 'promotions_read', $q$cdp.has_permission('promotions.read') OR cdp.has_permission('promotions.redeem')$q$),
      ('promotion_audience', 'promotion_audience_read', $q$cdp.has_permission('promotions.read') OR cdp.has_permission('promotions.redeem')$q$),
      ('promotion_reconciliation_runs', 'promotion_reconciliation_runs_read', $q$cdp.has_permission('promotions.read')$q$),
      ('user_daily_activity', 'activity_read', $q$cdp.has_permission('users.read') OR cdp.has_permission('dashboard.read')$q$),
      ('ingestion_batches', 'batches_read', $q$cdp.has_permission('dashboard.read') OR cdp.has_permission('integrations.read')$q$),
      ('user_field_values', 'user_field_values_read', $q$cdp.has_permission('users.read') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('dashboard.read')$q$)
    ) AS t(table_name, policy_name, expr)
  LOOP
    EXECUTE format('ALTER POLICY %I ON cdp.%I USING (%s)', p.policy_name, p.table_name, p.expr);
  END LOOP;
END $$;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['public.users', 'cdp.user_attributes', 'cdp.user_stats', 'cdp.identities',
                           'cdp.promotion_audience'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS filter_data_version ON %s', t);
    EXECUTE format('DROP TRIGGER IF EXISTS filter_data_version_truncate ON %s', t);
  END LOOP;
END $$;
DROP FUNCTION IF EXISTS cdp.bump_filter_data_version();
DROP SEQUENCE IF EXISTS cdp.filter_data_version;
