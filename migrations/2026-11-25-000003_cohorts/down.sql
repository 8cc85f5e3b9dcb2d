DROP TABLE IF EXISTS cdp.integration_sync_runs, cdp.cohort_membership_changes, cdp.cohort_size_history, cdp.cohort_members, cdp.cohorts;
