//! What every dashboard figure means (DESIGN §8). These texts are the tooltips the API returns
//! and are kept word for word in docs/metrics.md (a test holds the two together).

use cdp_proto::cdp::v1::{DashboardMetric as M, MetricUnit as U};

/// The longest range a request may ask for: 3 years (the contract's limit), leap day included.
pub const MAX_RANGE_DAYS: i64 = 1096;
/// "About to churn" starts this many days after the last activity.
pub const ABOUT_TO_CHURN_FROM_DAYS: i32 = 14;

/// The tunable parts of the definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricSettings {
    /// Days without activity after which a user counts as churned (DESIGN §8: 30).
    pub churn_window_days: i32,
}

impl Default for MetricSettings {
    fn default() -> Self {
        MetricSettings { churn_window_days: 30 }
    }
}

impl MetricSettings {
    /// Refuses windows that would make "about to churn" empty or exceed the rollup arrays.
    pub fn validated(self) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (ABOUT_TO_CHURN_FROM_DAYS + 1..=365).contains(&self.churn_window_days),
            "the churn window must be 15 to 365 days, got {}",
            self.churn_window_days
        );
        Ok(self)
    }
}

/// Every metric, in the order "all metrics" returns them.
pub const ALL_METRICS: [M; 16] = [
    M::Dau,
    M::Wau,
    M::Mau,
    M::ActiveUsers,
    M::NewUsers,
    M::ChurnedUsers,
    M::ReactivatedUsers,
    M::AboutToChurnUsers,
    M::StickinessDauMau,
    M::StickinessWauMau,
    M::AvgSessionDuration,
    M::ActiveUserGrowthRate,
    M::KeyEventCompletionRate,
    M::AverageCltv,
    M::Events,
    M::CreditsSpent,
];

pub fn label(metric: M) -> &'static str {
    match metric {
        M::Unspecified => "",
        M::Dau => "DAU",
        M::Wau => "WAU",
        M::Mau => "MAU",
        M::ActiveUsers => "Active users",
        M::NewUsers => "New users",
        M::ChurnedUsers => "Churned users",
        M::ReactivatedUsers => "Reactivated users",
        M::AboutToChurnUsers => "About to churn",
        M::StickinessDauMau => "Stickiness (DAU/MAU)",
        M::StickinessWauMau => "Stickiness (WAU/MAU)",
        M::AvgSessionDuration => "Average session duration",
        M::ActiveUserGrowthRate => "Active user growth rate",
        M::KeyEventCompletionRate => "Key event completion rate",
        M::AverageCltv => "Average CLTV",
        M::Events => "Events",
        M::CreditsSpent => "Credits spent",
    }
}

pub fn unit(metric: M) -> U {
    match metric {
        M::Unspecified => U::Unspecified,
        M::StickinessDauMau | M::StickinessWauMau | M::ActiveUserGrowthRate | M::KeyEventCompletionRate => U::Ratio,
        M::AvgSessionDuration => U::Seconds,
        M::AverageCltv | M::CreditsSpent => U::Credits,
        _ => U::Count,
    }
}

pub fn description(metric: M, settings: &MetricSettings) -> String {
    let window = settings.churn_window_days;
    match metric {
        M::Unspecified => String::new(),
        M::Dau => "Daily active users: distinct users with activity on a day (a row in daily activity). A point or KPI is the average over its days.".into(),
        M::Wau => "Weekly active users: distinct users active in the 7 days ending on a day. A point or KPI is the average over its days.".into(),
        M::Mau => "Monthly active users: distinct users active in the 30 days ending on a day. A point or KPI is the average over its days.".into(),
        M::ActiveUsers => "Active users: distinct users active at least once in the bucket or range.".into(),
        M::NewUsers => "New users: accounts created in the bucket or range (user_account_creation_date).".into(),
        M::ChurnedUsers => format!(
            "Churned users: users whose last activity was exactly {window} days (the churn window) before a day, summed over the days of the bucket or range."
        ),
        M::ReactivatedUsers => format!(
            "Reactivated users: users active on a day after at least {window} days (the churn window) without activity, summed over the days of the bucket or range."
        ),
        M::AboutToChurnUsers => format!(
            "About to churn: users whose last activity was {ABOUT_TO_CHURN_FROM_DAYS} to {} days before the last day of the bucket or range.",
            window - 1
        ),
        M::StickinessDauMau => "Stickiness (DAU/MAU): average DAU divided by average MAU over the bucket or range.".into(),
        M::StickinessWauMau => "Stickiness (WAU/MAU): average WAU divided by average MAU over the bucket or range.".into(),
        M::AvgSessionDuration => "Average session duration: session seconds divided by sessions, over the bucket or range.".into(),
        M::ActiveUserGrowthRate => "Active user growth rate: active users minus the active users of the equal-length period just before, divided by the latter (0 when that period had none).".into(),
        M::KeyEventCompletionRate => "Key event completion rate: of the accounts created in the bucket or range, the share that reached every funnel milestone up to a first transaction.".into(),
        M::AverageCltv => CLTV_DESCRIPTION.into(),
        M::Events => "Events: events tracked in daily activity in the bucket or range.".into(),
        M::CreditsSpent => "Credits spent: credits spent in daily activity in the bucket or range.".into(),
    }
}

pub const CLTV_DESCRIPTION: &str = "Average customer lifetime value: lifetime credits spent (total_credits_spent) averaged over the users who spent any; a lifetime figure, so it has no previous period.";

/// The marketplace funnel's milestones: name and definition. Each step counts the accounts
/// created in the range that reached it and every step before it.
pub const FUNNEL_STEPS: [(&str, &str); 4] = [
    ("Account created", "Accounts created in the range (user_account_creation_date)."),
    ("First listing", "Of those, users who posted a listing (total_listings_count above 0, or a first paid listing)."),
    ("First paid listing", "Of those, users with a first paid listing (first_paid_listing_date set)."),
    ("First transaction", "Of those, users with a first transaction (first_transaction_date set)."),
];

pub fn segments_description(by_value: bool) -> String {
    let measure = if by_value { "credits spent in daily activity" } else { "distinct active users" };
    format!(
        "Segments (user type × favorite vertical, and every saved cohort) ranked by {measure} in the range; the previous value is the same over the previous range of equal length, and users is the segment's size now."
    )
}

pub const DATA_HEALTH_DESCRIPTION: &str = "Unified profiles: rows of the users table. Match rate: the share of profiles with an Amplitude (or Braze) id. Ingestion: rows loaded by succeeded ETL batches per day (by the day they finished) and events recorded in daily activity for that day. Latest batches: the most recent batch of each source with its validation result.";
