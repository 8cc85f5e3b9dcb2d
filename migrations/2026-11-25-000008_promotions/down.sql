DROP TABLE IF EXISTS cdp.promotion_reconciliation_runs;
DROP TRIGGER IF EXISTS redemption_reverted ON cdp.redemptions;
DROP FUNCTION IF EXISTS cdp.redemption_reverted();
DROP TABLE IF EXISTS cdp.redemptions;
DROP TABLE IF EXISTS cdp.promotion_audience;
DROP TABLE IF EXISTS cdp.promotions;
