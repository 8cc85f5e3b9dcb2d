-- The single-column indexes of 000001 are prefixes of the (sort key, user_id) indexes of 000004,
-- which serve every lookup they served. Kept, they cost every ETL write and misled the planner:
-- a later ListUsers page walked one of them and sorted a whole run of equal keys (30 ms on a
-- million users, where the composite index answers in under 1 ms).
DROP INDEX IF EXISTS public.users_account_creation_idx;
DROP INDEX IF EXISTS public.users_last_transaction_idx;
DROP INDEX IF EXISTS public.users_total_credits_spent_idx;
DROP INDEX IF EXISTS public.users_total_listings_idx;
DROP INDEX IF EXISTS public.users_wallet_idx;
