-- Cohorts and their membership over time (DESIGN §5), plus the run history of every sync to
-- an external integration. Shared by the cohort engine, promotions (audiences) and the
-- integrations monitor; later migrations add their own columns and tables.

CREATE TABLE cdp.cohorts (
  id                       bigserial PRIMARY KEY,
  name                     text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  description              text NOT NULL DEFAULT '',
  -- dynamic: re-evaluated on refresh; static: frozen at creation (or an Amplitude import).
  kind                     text NOT NULL CHECK (kind IN ('dynamic', 'static')),
  -- The condition tree (cdp.v1.ConditionGroup as JSON); empty for imports.
  definition               jsonb NOT NULL DEFAULT '{}'::jsonb,
  source                   text NOT NULL DEFAULT 'builder' CHECK (source IN ('builder', 'amplitude_import')),
  amplitude_cohort_id      text,
  refresh_interval_secs    integer NOT NULL DEFAULT 86400 CHECK (refresh_interval_secs >= 900),
  size                     bigint NOT NULL DEFAULT 0,
  last_refreshed_at        timestamptz,
  next_refresh_at          timestamptz,
  last_refresh_duration_ms integer,
  last_error               text,
  created_by               uuid,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  -- Soft delete: promotions and audit rows keep pointing at a deleted cohort.
  deleted_at               timestamptz
);
CREATE UNIQUE INDEX cohorts_name_idx ON cdp.cohorts (lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX cohorts_next_refresh_idx ON cdp.cohorts (next_refresh_at) WHERE deleted_at IS NULL AND kind = 'dynamic';

-- Current members. `joined_at` is when the user last entered the cohort.
CREATE TABLE cdp.cohort_members (
  cohort_id bigint  NOT NULL REFERENCES cdp.cohorts (id) ON DELETE CASCADE,
  user_id   integer NOT NULL,
  joined_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cohort_id, user_id)
);
CREATE INDEX cohort_members_user_idx ON cdp.cohort_members (user_id);

-- One row per refresh: the size over time and how many joined and left.
CREATE TABLE cdp.cohort_size_history (
  cohort_id   bigint NOT NULL REFERENCES cdp.cohorts (id) ON DELETE CASCADE,
  computed_at timestamptz NOT NULL,
  size        bigint NOT NULL,
  joined      bigint NOT NULL DEFAULT 0,
  "left"      bigint NOT NULL DEFAULT 0,
  duration_ms integer NOT NULL DEFAULT 0,
  PRIMARY KEY (cohort_id, computed_at)
);

-- Who joined and who left at each refresh (what syncs send as deltas).
CREATE TABLE cdp.cohort_membership_changes (
  id         bigserial PRIMARY KEY,
  cohort_id  bigint  NOT NULL REFERENCES cdp.cohorts (id) ON DELETE CASCADE,
  user_id    integer NOT NULL,
  change     text    NOT NULL CHECK (change IN ('joined', 'left')),
  changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cohort_membership_changes_idx ON cdp.cohort_membership_changes (cohort_id, id);

-- Every run of a sync to an external integration (cohort sync, profile enrichment, imports),
-- for ListCohortSyncs and the integrations monitor.
CREATE TABLE cdp.integration_sync_runs (
  id            bigserial PRIMARY KEY,
  integration   text NOT NULL CHECK (integration IN ('amplitude', 'braze', 'airflow')),
  operation     text NOT NULL,            -- e.g. cohort_sync, profile_enrichment, cohort_import
  resource_type text NOT NULL DEFAULT '',
  resource_id   text NOT NULL DEFAULT '',
  status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  job_id        bigint,
  attempts      integer NOT NULL DEFAULT 0,
  counts        jsonb NOT NULL DEFAULT '{}'::jsonb,  -- e.g. {"added": 10, "removed": 2, "sent": 12}
  error         text,
  requested_by  uuid,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);
CREATE INDEX integration_sync_runs_resource_idx ON cdp.integration_sync_runs (resource_type, resource_id, created_at DESC);
CREATE INDEX integration_sync_runs_integration_idx ON cdp.integration_sync_runs (integration, created_at DESC);

GRANT SELECT, INSERT, UPDATE ON cdp.cohorts TO cdp_app;
GRANT USAGE ON SEQUENCE cdp.cohorts_id_seq, cdp.integration_sync_runs_id_seq TO cdp_app;
GRANT SELECT ON cdp.cohort_members, cdp.cohort_size_history, cdp.cohort_membership_changes TO cdp_app;
GRANT SELECT, INSERT ON cdp.integration_sync_runs TO cdp_app;

ALTER TABLE cdp.cohorts ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.cohort_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.cohort_size_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.cohort_membership_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.integration_sync_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY cohorts_read ON cdp.cohorts FOR SELECT TO cdp_app USING (cdp.has_permission('cohorts.read'));
CREATE POLICY cohorts_insert ON cdp.cohorts FOR INSERT TO cdp_app
  WITH CHECK (cdp.has_permission('cohorts.write') OR (source = 'amplitude_import' AND cdp.has_permission('amplitude.import')));
CREATE POLICY cohorts_update ON cdp.cohorts FOR UPDATE TO cdp_app
  USING (cdp.has_permission('cohorts.write')) WITH CHECK (cdp.has_permission('cohorts.write'));
CREATE POLICY cohort_members_read ON cdp.cohort_members FOR SELECT TO cdp_app
  USING (cdp.has_permission('cohorts.read') OR cdp.has_permission('users.read'));
CREATE POLICY cohort_size_history_read ON cdp.cohort_size_history FOR SELECT TO cdp_app USING (cdp.has_permission('cohorts.read'));
CREATE POLICY cohort_changes_read ON cdp.cohort_membership_changes FOR SELECT TO cdp_app USING (cdp.has_permission('cohorts.read'));
CREATE POLICY sync_runs_read ON cdp.integration_sync_runs FOR SELECT TO cdp_app
  USING (cdp.has_permission('cohorts.read') OR cdp.has_permission('integrations.read'));
CREATE POLICY sync_runs_request ON cdp.integration_sync_runs FOR INSERT TO cdp_app
  WITH CHECK (cdp.has_permission('cohorts.sync') OR cdp.has_permission('amplitude.import') OR cdp.has_permission('integrations.trigger'));
