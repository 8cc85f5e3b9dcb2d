-- The transactions that wrote a table previews read (server/src/cohorts/preview_cache.rs). A
-- preview records the transactions in flight when it begins; when a later preview finds one of
-- them finished, a row here says it wrote, and the results computed while it ran are dropped
-- (its version bump may have come before the preview read the version, its rows after the
-- scan). One row per writing transaction; a day is kept, far longer than any cached result.
CREATE TABLE cdp.filter_writes (
  xid        xid8 PRIMARY KEY,
  written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX filter_writes_written_at_idx ON cdp.filter_writes (written_at);
ALTER TABLE cdp.filter_writes ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON cdp.filter_writes TO cdp_app;
CREATE POLICY filter_writes_read ON cdp.filter_writes FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('cohorts.read')));

-- The statement triggers of 000009 now also record the writing transaction, and prune rows
-- older than a day (skipping rows another writer holds, so writers never wait on each other).
CREATE OR REPLACE FUNCTION cdp.bump_filter_data_version() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  PERFORM nextval('cdp.filter_data_version');
  INSERT INTO cdp.filter_writes (xid) VALUES (pg_current_xact_id()) ON CONFLICT (xid) DO NOTHING;
  DELETE FROM cdp.filter_writes WHERE xid IN (
    SELECT xid FROM cdp.filter_writes WHERE written_at < now() - interval '1 day' LIMIT 100 FOR UPDATE SKIP LOCKED);
  RETURN NULL;
END $$;
