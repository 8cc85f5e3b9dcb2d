-- Previews reuse per-condition results (server/src/cohorts/preview_cache.rs) while the data
-- they read is unchanged. Every statement that writes a table a condition can read draws from
-- this sequence; a cached result remembers the value it was computed under. A sequence, not a
-- counter row, so that concurrent writers never wait on each other for it. Cohort memberships
-- are not counted here: a cached result that reads one is keyed by its cohort's refresh time.
CREATE SEQUENCE cdp.filter_data_version;
GRANT SELECT, USAGE ON SEQUENCE cdp.filter_data_version TO cdp_app;

CREATE FUNCTION cdp.bump_filter_data_version() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  PERFORM nextval('cdp.filter_data_version');
  RETURN NULL;
END $$;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['public.users', 'cdp.user_attributes', 'cdp.user_stats', 'cdp.identities',
                           'cdp.promotion_audience'] LOOP
    EXECUTE format('CREATE TRIGGER filter_data_version AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION cdp.bump_filter_data_version()', t);
    EXECUTE format('CREATE TRIGGER filter_data_version_truncate AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION cdp.bump_filter_data_version()', t);
  END LOOP;
END $$;

-- The policies below (promotions of 000008, activity, batches and field values of 000002 and
-- 000004) called cdp.has_permission() bare, once per row; wrapped in
-- a scalar subquery it runs once per statement (see 000007). Expressions are otherwise unchanged.
DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT * FROM (VALUES
      ('promotions', 'promotions_read', $q$(SELECT cdp.has_permission('promotions.read') OR cdp.has_permission('promotions.redeem'))$q$),
      ('promotion_audience', 'promotion_audience_read', $q$(SELECT cdp.has_permission('promotions.read') OR cdp.has_permission('promotions.redeem'))$q$),
      ('promotion_reconciliation_runs', 'promotion_reconciliation_runs_read', $q$(SELECT cdp.has_permission('promotions.read'))$q$),
      ('user_daily_activity', 'activity_read', $q$(SELECT cdp.has_permission('users.read') OR cdp.has_permission('dashboard.read'))$q$),
      ('ingestion_batches', 'batches_read', $q$(SELECT cdp.has_permission('dashboard.read') OR cdp.has_permission('integrations.read'))$q$),
      ('user_field_values', 'user_field_values_read', $q$(SELECT cdp.has_permission('users.read') OR cdp.has_permission('cohorts.read') OR cdp.has_permission('dashboard.read'))$q$)
    ) AS t(table_name, policy_name, expr)
  LOOP
    EXECUTE format('ALTER POLICY %I ON cdp.%I USING (%s)', p.policy_name, p.table_name, p.expr);
  END LOOP;
END $$;
