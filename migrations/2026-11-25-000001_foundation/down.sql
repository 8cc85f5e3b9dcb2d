DROP TABLE IF EXISTS cdp.jobs, cdp.ingestion_batches, cdp.identities, cdp.user_daily_activity;
DROP TABLE IF EXISTS public.users;
DROP SCHEMA IF EXISTS cdp CASCADE;
