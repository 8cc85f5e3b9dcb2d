DROP TRIGGER filter_changes_audience ON cdp.promotion_audience;
DROP FUNCTION cdp.log_audience_change();
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['public.users', 'cdp.user_attributes', 'cdp.user_stats', 'cdp.identities'] LOOP
    EXECUTE format('DROP TRIGGER filter_changes_insert ON %s', t);
    EXECUTE format('DROP TRIGGER filter_changes_update ON %s', t);
    EXECUTE format('DROP TRIGGER filter_changes_delete ON %s', t);
    EXECUTE format('DROP TRIGGER filter_changes_truncate ON %s', t);
  END LOOP;
END $$;
DROP FUNCTION cdp.log_filter_changes();
DROP TABLE cdp.filter_changes;

-- Back to 000010's state.
CREATE SEQUENCE cdp.filter_data_version;
GRANT SELECT, USAGE ON SEQUENCE cdp.filter_data_version TO cdp_app;
CREATE TABLE cdp.filter_writes (
  xid        xid8 PRIMARY KEY,
  written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX filter_writes_written_at_idx ON cdp.filter_writes (written_at);
ALTER TABLE cdp.filter_writes ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON cdp.filter_writes TO cdp_app;
CREATE POLICY filter_writes_read ON cdp.filter_writes FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('cohorts.read')));
CREATE FUNCTION cdp.bump_filter_data_version() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  PERFORM nextval('cdp.filter_data_version');
  INSERT INTO cdp.filter_writes (xid) VALUES (pg_current_xact_id()) ON CONFLICT (xid) DO NOTHING;
  DELETE FROM cdp.filter_writes WHERE xid IN (
    SELECT xid FROM cdp.filter_writes WHERE written_at < now() - interval '1 day' LIMIT 100 FOR UPDATE SKIP LOCKED);
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
