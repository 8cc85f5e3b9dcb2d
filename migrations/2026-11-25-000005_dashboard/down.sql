DROP TABLE IF EXISTS cdp.ingestion_watch_cursor, cdp.profile_health_rollup, cdp.cohort_activity_rollup,
  cdp.segment_activity_rollup, cdp.segment_rollup, cdp.signup_funnel_rollup, cdp.active_window_rollup,
  cdp.daily_activity_rollup, cdp.dashboard_rollup_state;
