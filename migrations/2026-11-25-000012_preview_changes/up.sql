-- Previews keep each condition's set of users current as the data changes instead of dropping
-- them all when anything is written (server/src/cohorts/preview_cache.rs). Every statement
-- that writes a table a condition can read records which users it changed; the next preview
-- re-evaluates its kept conditions for those users only. This replaces the data version of
-- 000009 and the writer log of 000010: a preview reads the changes its kept sets' snapshot
-- could not see, which covers the writers that committed after that snapshot was taken.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['public.users', 'cdp.user_attributes', 'cdp.user_stats', 'cdp.identities',
                           'cdp.promotion_audience'] LOOP
    EXECUTE format('DROP TRIGGER filter_data_version ON %s', t);
    EXECUTE format('DROP TRIGGER filter_data_version_truncate ON %s', t);
  END LOOP;
END $$;
DROP FUNCTION cdp.bump_filter_data_version();
DROP SEQUENCE cdp.filter_data_version;
DROP TABLE cdp.filter_writes;

-- One row per user a statement changed, or one row with no user when it may have changed
-- every user (a truncate, or more than 50,000 users: re-evaluating that many by id costs as
-- much as scanning everyone, see preview_cache::MAX_CHANGED). A day is kept, far
-- longer than a preview keeps a set without reading the changes.
CREATE TABLE cdp.filter_changes (
  xid        xid8 NOT NULL,
  source     text NOT NULL,
  user_id    integer,
  written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX filter_changes_xid_idx ON cdp.filter_changes (xid);
CREATE INDEX filter_changes_written_at_idx ON cdp.filter_changes (written_at);
ALTER TABLE cdp.filter_changes ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON cdp.filter_changes TO cdp_app;
CREATE POLICY filter_changes_read ON cdp.filter_changes FOR SELECT TO cdp_app
  USING ((SELECT cdp.has_permission('cohorts.read')));

-- Statement triggers with transition tables: the users of inserted and deleted rows, and of
-- updated rows whose values differ apart from the bookkeeping columns in TG_ARGV[0] (a jsonb
-- object mapping them to null)
-- (the stats refresh rewrites every row each run; only the users whose stats moved count).
CREATE FUNCTION cdp.log_filter_changes() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  bookkeeping jsonb := coalesce(TG_ARGV[0], '{}')::jsonb;
  changed integer[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT n.user_id) INTO changed FROM new_rows n;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT o.user_id) INTO changed FROM old_rows o;
  ELSIF TG_OP = 'UPDATE' THEN
    -- Rows compared whole, so a column added later is compared too; bookkeeping columns are
    -- nulled on both sides first. A changed key shows as two users (a full join on it).
    SELECT array_agg(DISTINCT coalesce(n.user_id, o.user_id)) INTO changed
      FROM old_rows o FULL JOIN new_rows n ON n.user_id = o.user_id
     WHERE o.user_id IS NULL OR n.user_id IS NULL
        OR jsonb_populate_record(o, bookkeeping) IS DISTINCT FROM jsonb_populate_record(n, bookkeeping);
  END IF;
  IF TG_OP = 'TRUNCATE' OR cardinality(changed) > 50000 THEN
    INSERT INTO cdp.filter_changes (xid, source) VALUES (pg_current_xact_id(), TG_TABLE_NAME);
  ELSIF cardinality(changed) > 0 THEN
    INSERT INTO cdp.filter_changes (xid, source, user_id) SELECT pg_current_xact_id(), TG_TABLE_NAME, unnest(changed);
  ELSE
    RETURN NULL;
  END IF;
  -- Prune what is older than a day, skipping rows another writer holds (writers never wait).
  DELETE FROM cdp.filter_changes WHERE ctid IN (
    SELECT ctid FROM cdp.filter_changes WHERE written_at < now() - interval '1 day' LIMIT 10000 FOR UPDATE SKIP LOCKED);
  RETURN NULL;
END $$;

DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT * FROM (VALUES
      ('public.users', '{}'),
      ('cdp.user_attributes', '{"updated_at": null, "updated_by": null}'),
      ('cdp.user_stats', '{"as_of": null, "refreshed_at": null}'),
      ('cdp.identities', '{"updated_at": null}')
    ) AS v(name, bookkeeping)
  LOOP
    EXECUTE format('CREATE TRIGGER filter_changes_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION cdp.log_filter_changes(%L)', t.name, t.bookkeeping);
    EXECUTE format('CREATE TRIGGER filter_changes_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION cdp.log_filter_changes(%L)', t.name, t.bookkeeping);
    EXECUTE format('CREATE TRIGGER filter_changes_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION cdp.log_filter_changes(%L)', t.name, t.bookkeeping);
    EXECUTE format('CREATE TRIGGER filter_changes_truncate AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION cdp.log_filter_changes()', t.name);
  END LOOP;
END $$;

-- Frozen promotion audiences are kept whole, not per condition: any write marks them all.
CREATE FUNCTION cdp.log_audience_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  INSERT INTO cdp.filter_changes (xid, source) VALUES (pg_current_xact_id(), TG_TABLE_NAME);
  RETURN NULL;
END $$;
CREATE TRIGGER filter_changes_audience AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cdp.promotion_audience
  FOR EACH STATEMENT EXECUTE FUNCTION cdp.log_audience_change();
