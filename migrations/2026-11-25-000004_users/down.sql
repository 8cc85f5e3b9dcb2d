DROP FUNCTION IF EXISTS cdp.user_ids_with_phone_digits(text);
DROP STATISTICS IF EXISTS public.users_verticals_expr_stats, public.users_levels_1_expr_stats,
  public.users_plans_expr_stats, public.users_top_addons_expr_stats, public.users_user_type_expr_stats,
  public.users_favorite_vertical_expr_stats, public.users_favorite_level_1_expr_stats,
  public.users_favorite_plan_expr_stats, public.users_favorite_addon_expr_stats;
DROP INDEX IF EXISTS public.users_phone_trgm_idx;
DROP INDEX IF EXISTS public.users_sort_created_idx, public.users_sort_last_transaction_idx,
  public.users_sort_credits_spent_idx, public.users_sort_wallet_idx, public.users_sort_listings_idx,
  public.users_sort_paid_listings_idx, public.users_sort_days_since_tx_idx;
DROP TABLE IF EXISTS cdp.user_field_values, cdp.user_stats, cdp.user_attributes;
DROP FUNCTION IF EXISTS cdp.lifecycle_stage(timestamp, timestamp, date, date, date);
