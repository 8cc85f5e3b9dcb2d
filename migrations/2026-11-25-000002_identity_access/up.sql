-- Identity and access: roles and permissions as rows (so GetPermissions reads the truth),
-- platform users, the local provider's tokens, service credentials, the append-only audit
-- log, and row-level security on every table (DESIGN §4).

CREATE TABLE cdp.roles (
  name        text PRIMARY KEY,
  label       text NOT NULL,
  description text NOT NULL,
  rank        integer NOT NULL UNIQUE  -- 1 = most privileged; used for display order
);

CREATE TABLE cdp.permissions (
  name        text PRIMARY KEY,
  description text NOT NULL
);

CREATE TABLE cdp.role_permissions (
  role       text NOT NULL REFERENCES cdp.roles (name),
  permission text NOT NULL REFERENCES cdp.permissions (name),
  PRIMARY KEY (role, permission)
);

INSERT INTO cdp.roles (name, label, description, rank) VALUES
  ('super_admin',    'Super Admin',    'Everything, including granting super admin.', 1),
  ('admin',          'Admin',          'Manages platform users, credentials and all growth work.', 2),
  ('growth_manager', 'Growth Manager', 'Builds cohorts, runs promotions and edits CDP attributes.', 3),
  ('data_engineer',  'Data Engineer',  'Runs pipelines and syncs; reads everything non-personal.', 4),
  ('read_only',      'Read Only',      'Reads dashboards, users (masked), cohorts and promotions.', 5);

INSERT INTO cdp.permissions (name, description) VALUES
  ('dashboard.read',             'View dashboard metrics'),
  ('users.read',                 'View marketplace users and profiles'),
  ('users.read_pii',             'See unmasked phone numbers'),
  ('users.write',                'Edit CDP attributes of marketplace users'),
  ('cohorts.read',               'View cohorts'),
  ('cohorts.write',              'Create, edit and delete cohorts'),
  ('cohorts.sync',               'Sync cohorts to Amplitude and Braze'),
  ('amplitude.import',           'Import Amplitude cohorts'),
  ('promotions.read',            'View promotions and redemptions'),
  ('promotions.write',           'Create, edit and delete promotions'),
  ('promotions.activate',        'Activate and deactivate promotions'),
  ('promotions.redeem',          'Redeem promotions (service credentials only)'),
  ('integrations.read',          'View the integrations monitor'),
  ('integrations.trigger',       'Trigger Airflow DAG runs'),
  ('roles.read',                 'View roles and permissions'),
  ('platform_users.read',        'View platform users'),
  ('platform_users.write',       'Invite, edit, disable and delete platform users'),
  ('service_credentials.manage', 'Issue, rotate and revoke service credentials'),
  ('audit.read',                 'Read the audit log'),
  ('super_admin.grant',          'Grant or remove the super admin role');

-- The matrix of DESIGN §4. promotions.redeem belongs to no platform role.
INSERT INTO cdp.role_permissions (role, permission)
SELECT r.role, p.permission FROM (VALUES
  ('dashboard.read',             ARRAY['super_admin','admin','growth_manager','data_engineer','read_only']),
  ('users.read',                 ARRAY['super_admin','admin','growth_manager','data_engineer','read_only']),
  ('cohorts.read',               ARRAY['super_admin','admin','growth_manager','data_engineer','read_only']),
  ('promotions.read',            ARRAY['super_admin','admin','growth_manager','data_engineer','read_only']),
  ('integrations.read',          ARRAY['super_admin','admin','growth_manager','data_engineer','read_only']),
  ('roles.read',                 ARRAY['super_admin','admin','growth_manager','data_engineer','read_only']),
  ('users.read_pii',             ARRAY['super_admin','admin','growth_manager']),
  ('users.write',                ARRAY['super_admin','admin','growth_manager']),
  ('cohorts.write',              ARRAY['super_admin','admin','growth_manager']),
  ('promotions.write',           ARRAY['super_admin','admin','growth_manager']),
  ('promotions.activate',        ARRAY['super_admin','admin','growth_manager']),
  ('cohorts.sync',               ARRAY['super_admin','admin','growth_manager','data_engineer']),
  ('amplitude.import',           ARRAY['super_admin','admin','growth_manager','data_engineer']),
  ('integrations.trigger',       ARRAY['super_admin','admin','data_engineer']),
  ('platform_users.read',        ARRAY['super_admin','admin']),
  ('audit.read',                 ARRAY['super_admin','admin']),
  ('platform_users.write',       ARRAY['super_admin','admin']),
  ('service_credentials.manage', ARRAY['super_admin','admin']),
  ('super_admin.grant',          ARRAY['super_admin'])
) AS p(permission, roles), unnest(p.roles) AS r(role);

-- People who sign in to the CDP. With Supabase Auth, `id` is the GoTrue user id (`sub`);
-- with the local provider it is ours and `password_hash` holds an argon2 PHC string.
CREATE TABLE cdp.platform_users (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email           text NOT NULL,
  display_name    text NOT NULL DEFAULT '',
  role            text NOT NULL REFERENCES cdp.roles (name),
  status          text NOT NULL DEFAULT 'invited' CHECK (status IN ('active', 'invited', 'disabled')),
  password_hash   text,
  last_sign_in_at timestamptz,
  created_by      uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  disabled_at     timestamptz
);
CREATE UNIQUE INDEX platform_users_email_idx ON cdp.platform_users (lower(email));

-- The local provider's refresh tokens and one-time links (invitation, recovery). Only hashes
-- are stored; the raw token is shown once.
CREATE TABLE cdp.auth_tokens (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  platform_user_id uuid NOT NULL REFERENCES cdp.platform_users (id) ON DELETE CASCADE,
  kind             text NOT NULL CHECK (kind IN ('refresh', 'invite', 'recovery')),
  token_hash       bytea NOT NULL UNIQUE,
  expires_at       timestamptz NOT NULL,
  used_at          timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_tokens_user_idx ON cdp.auth_tokens (platform_user_id, kind);

-- Machine clients (internal marketplace services). The bearer secret is
-- `cdp_sk_<key_prefix>_<secret>`; only SHA-256 of the secret is stored (it is 256 random bits,
-- so a slow hash adds nothing). Rotation keeps the previous hash valid until its expiry.
CREATE TABLE cdp.service_credentials (
  id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name                       text NOT NULL,
  scopes                     text[] NOT NULL CHECK (cardinality(scopes) > 0),
  key_prefix                 text NOT NULL UNIQUE,
  secret_hash                bytea NOT NULL,
  previous_secret_hash       bytea,
  previous_secret_expires_at timestamptz,
  status                     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  created_by                 uuid,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  last_used_at               timestamptz,
  rotated_at                 timestamptz,
  revoked_at                 timestamptz
);

-- Append-only record of every mutation, written in the same transaction as the change.
CREATE TABLE cdp.audit_log (
  id             bigserial PRIMARY KEY,
  actor_id       uuid,
  actor_email    text,
  actor_kind     text NOT NULL CHECK (actor_kind IN ('platform_user', 'service_credential', 'system')),
  action         text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text NOT NULL,
  before         jsonb,
  after          jsonb,
  request_id     text,
  client_address text,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created_idx ON cdp.audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON cdp.audit_log (actor_id, created_at DESC);
CREATE INDEX audit_log_resource_idx ON cdp.audit_log (resource_type, resource_id, created_at DESC);
CREATE INDEX audit_log_action_idx ON cdp.audit_log (action text_pattern_ops);

CREATE FUNCTION cdp.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'cdp.audit_log is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cdp.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION cdp.audit_log_is_append_only();

-- Does the caller of this transaction hold `permission` right now? Reads the platform user's
-- current role and status (never the role claim of the token), or the scopes of the service
-- credential named in the claims. SECURITY DEFINER so it can read those tables under RLS.
CREATE FUNCTION cdp.has_permission(permission text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, cdp AS $$
  SELECT CASE
    WHEN auth.jwt() ->> 'cdp_credential' IS NOT NULL THEN EXISTS (
      SELECT 1 FROM cdp.service_credentials c
      WHERE c.id = (auth.jwt() ->> 'cdp_credential')::uuid
        AND c.status = 'active' AND permission = ANY (c.scopes))
    ELSE EXISTS (
      SELECT 1 FROM cdp.platform_users u
      JOIN cdp.role_permissions rp ON rp.role = u.role
      WHERE u.id = auth.uid() AND u.status = 'active' AND rp.permission = has_permission.permission)
  END
$$;
REVOKE ALL ON FUNCTION cdp.has_permission(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cdp.has_permission(text) TO cdp_app, cdp_etl;

-- Grants: the application role may touch these tables at all; RLS decides which rows.
GRANT SELECT ON cdp.roles, cdp.permissions, cdp.role_permissions TO cdp_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON cdp.platform_users TO cdp_app;
GRANT SELECT, INSERT, UPDATE ON cdp.service_credentials, cdp.auth_tokens TO cdp_app;
GRANT SELECT, INSERT ON cdp.audit_log TO cdp_app;
GRANT USAGE ON SEQUENCE cdp.audit_log_id_seq TO cdp_app;

-- Row-level security on every table. The table owner (migrations, the worker, sign-in before
-- a principal exists) is not subject to it; `cdp_app` and `cdp_etl` are.
ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.user_daily_activity ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.ingestion_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.permissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.role_permissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.platform_users ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.auth_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.service_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.audit_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY users_read ON public.users FOR SELECT TO cdp_app
  USING (cdp.has_permission('users.read'));
CREATE POLICY users_etl ON public.users TO cdp_etl USING (true) WITH CHECK (true);

CREATE POLICY activity_read ON cdp.user_daily_activity FOR SELECT TO cdp_app
  USING (cdp.has_permission('users.read') OR cdp.has_permission('dashboard.read'));
CREATE POLICY activity_etl ON cdp.user_daily_activity TO cdp_etl USING (true) WITH CHECK (true);
CREATE POLICY identities_read ON cdp.identities FOR SELECT TO cdp_app
  USING (cdp.has_permission('users.read'));
CREATE POLICY identities_etl ON cdp.identities TO cdp_etl USING (true) WITH CHECK (true);
CREATE POLICY batches_read ON cdp.ingestion_batches FOR SELECT TO cdp_app
  USING (cdp.has_permission('dashboard.read') OR cdp.has_permission('integrations.read'));
CREATE POLICY batches_etl ON cdp.ingestion_batches TO cdp_etl USING (true) WITH CHECK (true);

-- Any signed-in caller may enqueue work its RPC already checked; reading the queue is for
-- those who watch integrations.
CREATE POLICY jobs_enqueue ON cdp.jobs FOR INSERT TO cdp_app WITH CHECK (auth.jwt() IS NOT NULL);
CREATE POLICY jobs_read ON cdp.jobs FOR SELECT TO cdp_app
  USING (cdp.has_permission('integrations.read'));

CREATE POLICY roles_read ON cdp.roles FOR SELECT TO cdp_app USING (auth.jwt() IS NOT NULL);
CREATE POLICY permissions_read ON cdp.permissions FOR SELECT TO cdp_app USING (auth.jwt() IS NOT NULL);
CREATE POLICY role_permissions_read ON cdp.role_permissions FOR SELECT TO cdp_app USING (auth.jwt() IS NOT NULL);

CREATE POLICY platform_users_read ON cdp.platform_users FOR SELECT TO cdp_app
  USING (id = auth.uid() OR cdp.has_permission('platform_users.read'));
CREATE POLICY platform_users_insert ON cdp.platform_users FOR INSERT TO cdp_app
  WITH CHECK (cdp.has_permission('platform_users.write'));
CREATE POLICY platform_users_update ON cdp.platform_users FOR UPDATE TO cdp_app
  USING (cdp.has_permission('platform_users.write'))
  WITH CHECK (cdp.has_permission('platform_users.write'));
CREATE POLICY platform_users_delete ON cdp.platform_users FOR DELETE TO cdp_app
  USING (cdp.has_permission('platform_users.write'));
-- auth_tokens: sign-in and refresh run as the owner; through the API, only user managers may
-- issue links or end sessions (and the hashes are useless to read).
CREATE POLICY auth_tokens_manage ON cdp.auth_tokens TO cdp_app
  USING (cdp.has_permission('platform_users.write'))
  WITH CHECK (cdp.has_permission('platform_users.write'));

CREATE POLICY service_credentials_manage ON cdp.service_credentials TO cdp_app
  USING (cdp.has_permission('service_credentials.manage'))
  WITH CHECK (cdp.has_permission('service_credentials.manage'));

-- Audit: readable by auditors; a profile's own history is readable with users.read. Rows may
-- only be added, by the caller the claims name.
CREATE POLICY audit_read ON cdp.audit_log FOR SELECT TO cdp_app
  USING (cdp.has_permission('audit.read')
         OR (resource_type = 'user' AND cdp.has_permission('users.read')));
CREATE POLICY audit_append ON cdp.audit_log FOR INSERT TO cdp_app
  WITH CHECK (actor_id IS NOT DISTINCT FROM coalesce(
    (auth.jwt() ->> 'cdp_credential')::uuid, auth.uid()));
