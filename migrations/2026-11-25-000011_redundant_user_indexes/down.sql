CREATE INDEX IF NOT EXISTS users_account_creation_idx ON public.users (user_account_creation_date);
CREATE INDEX IF NOT EXISTS users_last_transaction_idx ON public.users (last_transaction_date);
CREATE INDEX IF NOT EXISTS users_total_credits_spent_idx ON public.users (total_credits_spent);
CREATE INDEX IF NOT EXISTS users_total_listings_idx ON public.users (total_listings_count);
CREATE INDEX IF NOT EXISTS users_wallet_idx ON public.users (current_credits_in_wallet);
