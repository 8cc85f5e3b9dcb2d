-- Promotions and redemptions (DESIGN §6): campaigns over a cohort, the audience each one
-- froze (or follows), the redemption ledger that is the record of truth, and the runs of the
-- reconciliation that compares Redis and the counters with that ledger.

CREATE TABLE cdp.promotions (
  id                 bigserial PRIMARY KEY,
  name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  description        text NOT NULL DEFAULT '',
  cohort_id          bigint NOT NULL REFERENCES cdp.cohorts (id),
  benefit_type       text NOT NULL CHECK (benefit_type IN ('bonus_credits', 'credit_discount_percent', 'free_addon',
                                                           'free_listing_days', 'offer_50', 'offer_baraka')),
  value              double precision NOT NULL CHECK (value > 0),
  addon              text NOT NULL DEFAULT '',
  code_mode          text NOT NULL DEFAULT 'shared' CHECK (code_mode IN ('shared', 'unique_per_user')),
  -- The shared code, upper case; NULL in unique_per_user mode (codes live in the audience).
  code               text CHECK (code ~ '^[A-Z0-9-]{4,32}$'),
  -- 0 = no cap. per_user_cap is at least 1.
  total_cap          bigint NOT NULL DEFAULT 0 CHECK (total_cap >= 0),
  per_user_cap       integer NOT NULL DEFAULT 1 CHECK (per_user_cap >= 1),
  credit_budget      bigint NOT NULL DEFAULT 0 CHECK (credit_budget >= 0),
  starts_at          timestamptz,
  ends_at            timestamptz,
  ttl_secs           bigint CHECK (ttl_secs > 0),
  audience           text NOT NULL DEFAULT 'frozen' CHECK (audience IN ('frozen', 'live')),
  status             text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'scheduled', 'active', 'paused', 'expired', 'archived')),
  status_reason      text NOT NULL DEFAULT '',
  audience_size      bigint NOT NULL DEFAULT 0,
  -- Committed redemptions (reverted excluded) and the credits they granted, kept by the
  -- ledger writer in the same transaction as the ledger rows. The CHECKs below are the
  -- PostgreSQL-side guard of the caps: whatever Redis says, a commit can never exceed them.
  redeemed_count     bigint NOT NULL DEFAULT 0 CHECK (redeemed_count >= 0),
  credits_granted    bigint NOT NULL DEFAULT 0 CHECK (credits_granted >= 0),
  -- The generation Redis must hold for this promotion. Every rebuild of the Redis state bumps
  -- it under this row's lock, and the ledger writer only commits reservations made in the
  -- current generation (a fence: reservations taken before a flush or rebuild never commit).
  redis_generation   bigint NOT NULL DEFAULT 0,
  audience_frozen_at timestamptz,
  audience_synced_at timestamptz,
  created_by         uuid,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  activated_at       timestamptz,
  ended_at           timestamptz,
  CONSTRAINT promotions_total_cap_held CHECK (total_cap = 0 OR redeemed_count <= total_cap),
  CONSTRAINT promotions_credit_budget_held CHECK (credit_budget = 0 OR credits_granted <= credit_budget),
  CONSTRAINT promotions_window_ordered CHECK (starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at),
  CONSTRAINT promotions_code_matches_mode CHECK ((code_mode = 'shared') = (code IS NOT NULL))
);
-- A shared code belongs to one promotion at a time; archiving frees it.
CREATE UNIQUE INDEX promotions_code_idx ON cdp.promotions (code) WHERE code IS NOT NULL AND status <> 'archived';
CREATE INDEX promotions_cohort_idx ON cdp.promotions (cohort_id);
CREATE INDEX promotions_status_idx ON cdp.promotions (status, id DESC);

-- The audience of a promotion: the cohort's members frozen at activation, or (live) kept in
-- step with the cohort, leavers marked rather than deleted. Unique codes live here too.
CREATE TABLE cdp.promotion_audience (
  promotion_id bigint  NOT NULL REFERENCES cdp.promotions (id) ON DELETE CASCADE,
  user_id      integer NOT NULL,
  code         text,
  added_at     timestamptz NOT NULL DEFAULT now(),
  removed_at   timestamptz,
  PRIMARY KEY (promotion_id, user_id)
);
CREATE UNIQUE INDEX promotion_audience_code_idx ON cdp.promotion_audience (code) WHERE code IS NOT NULL;
CREATE INDEX promotion_audience_user_idx ON cdp.promotion_audience (user_id) WHERE removed_at IS NULL;

-- The redemption ledger: one row per granted redemption, the record of truth that Redis and
-- the counters are rebuilt from. No foreign keys on the hot path: a key check would lock the
-- promotion row once per inserted row; promotions with redemptions are never deleted (only
-- drafts are) and credentials are only ever revoked.
CREATE TABLE cdp.redemptions (
  id                    bigserial PRIMARY KEY,
  promotion_id          bigint  NOT NULL,
  user_id               integer NOT NULL,
  code                  text    NOT NULL,
  service_credential_id uuid    NOT NULL,
  idempotency_key       text    NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 128),
  order_reference       text    NOT NULL DEFAULT '',
  order_credits         bigint,
  credits               bigint  NOT NULL DEFAULT 0 CHECK (credits >= 0),
  status                text    NOT NULL DEFAULT 'redeemed' CHECK (status IN ('redeemed', 'reverted')),
  redeemed_at           timestamptz NOT NULL DEFAULT now(),
  reverted_at           timestamptz,
  revert_reason         text    NOT NULL DEFAULT '',
  -- Idempotency is scoped to the calling credential.
  CONSTRAINT redemptions_idempotency_key UNIQUE (service_credential_id, idempotency_key)
);
CREATE INDEX redemptions_promotion_idx ON cdp.redemptions (promotion_id, id DESC);
CREATE INDEX redemptions_user_idx ON cdp.redemptions (user_id, promotion_id);

-- A revert gives its use back to the counters in its own transaction (redemptions are added
-- to them by the ledger writer, in batches). SECURITY DEFINER: the caller (a service
-- credential under RLS) may revert its own redemptions but not write promotions.
CREATE FUNCTION cdp.redemption_reverted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, cdp AS $$
BEGIN
  UPDATE cdp.promotions
     SET redeemed_count = redeemed_count - 1, credits_granted = credits_granted - OLD.credits
   WHERE id = OLD.promotion_id;
  RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION cdp.redemption_reverted() FROM PUBLIC;
CREATE TRIGGER redemption_reverted AFTER UPDATE OF status ON cdp.redemptions
  FOR EACH ROW WHEN (OLD.status = 'redeemed' AND NEW.status = 'reverted')
  EXECUTE FUNCTION cdp.redemption_reverted();

-- Each run of the reconciliation: what it compared and every drift it found and repaired.
CREATE TABLE cdp.promotion_reconciliation_runs (
  id                 bigserial PRIMARY KEY,
  job_id             bigint,
  status             text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  promotions_checked integer NOT NULL DEFAULT 0,
  promotions_drifted integer NOT NULL DEFAULT 0,
  -- One entry per drifted promotion: {promotion_id, counter, expected, found, repaired}.
  drift              jsonb NOT NULL DEFAULT '[]'::jsonb,
  error              text,
  started_at         timestamptz NOT NULL DEFAULT now(),
  finished_at        timestamptz
);
CREATE INDEX promotion_reconciliation_runs_idx ON cdp.promotion_reconciliation_runs (started_at DESC);

GRANT SELECT, INSERT, UPDATE, DELETE ON cdp.promotions TO cdp_app;
GRANT USAGE ON SEQUENCE cdp.promotions_id_seq TO cdp_app;
GRANT SELECT, INSERT, UPDATE ON cdp.promotion_audience TO cdp_app;
GRANT SELECT, UPDATE ON cdp.redemptions TO cdp_app;
GRANT SELECT ON cdp.promotion_reconciliation_runs TO cdp_app;

ALTER TABLE cdp.promotions ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.promotion_audience ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.redemptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE cdp.promotion_reconciliation_runs ENABLE ROW LEVEL SECURITY;

-- Platform users read promotions with promotions.read; redeeming services read them too
-- (ListUserPromotions, reverts). Writes need promotions.write or promotions.activate.
CREATE POLICY promotions_read ON cdp.promotions FOR SELECT TO cdp_app
  USING (cdp.has_permission('promotions.read') OR cdp.has_permission('promotions.redeem'));
CREATE POLICY promotions_insert ON cdp.promotions FOR INSERT TO cdp_app
  WITH CHECK (cdp.has_permission('promotions.write'));
CREATE POLICY promotions_update ON cdp.promotions FOR UPDATE TO cdp_app
  USING (cdp.has_permission('promotions.write') OR cdp.has_permission('promotions.activate'))
  WITH CHECK (cdp.has_permission('promotions.write') OR cdp.has_permission('promotions.activate'));
CREATE POLICY promotions_delete ON cdp.promotions FOR DELETE TO cdp_app
  USING (status = 'draft' AND cdp.has_permission('promotions.write'));

CREATE POLICY promotion_audience_read ON cdp.promotion_audience FOR SELECT TO cdp_app
  USING (cdp.has_permission('promotions.read') OR cdp.has_permission('promotions.redeem'));
CREATE POLICY promotion_audience_write ON cdp.promotion_audience FOR INSERT TO cdp_app
  WITH CHECK (cdp.has_permission('promotions.activate'));
CREATE POLICY promotion_audience_update ON cdp.promotion_audience FOR UPDATE TO cdp_app
  USING (cdp.has_permission('promotions.activate')) WITH CHECK (cdp.has_permission('promotions.activate'));

-- The ledger: platform users read it with promotions.read; a credential sees and reverts
-- only its own redemptions. Inserts come from the ledger writer (the owner), never cdp_app.
CREATE POLICY redemptions_read ON cdp.redemptions FOR SELECT TO cdp_app
  USING (cdp.has_permission('promotions.read')
         OR (service_credential_id = (auth.jwt() ->> 'cdp_credential')::uuid AND cdp.has_permission('promotions.redeem')));
CREATE POLICY redemptions_revert ON cdp.redemptions FOR UPDATE TO cdp_app
  USING (service_credential_id = (auth.jwt() ->> 'cdp_credential')::uuid AND cdp.has_permission('promotions.redeem'))
  WITH CHECK (service_credential_id = (auth.jwt() ->> 'cdp_credential')::uuid AND cdp.has_permission('promotions.redeem'));

CREATE POLICY promotion_reconciliation_runs_read ON cdp.promotion_reconciliation_runs FOR SELECT TO cdp_app
  USING (cdp.has_permission('promotions.read'));
