//! The demo history's cast and plot (DESIGN §7): who joined the team and when, the cohorts
//! they saved and how often those were refreshed, the promotions run on them, and the syncs
//! asked for. Every moment is a number of days before the seed's last day at a local time of
//! day (reporting time zone), at least one day back, so the whole story lies in the past.
//! `history` plays it through the product's own code and then dates what it wrote.

use crate::auth::principal::Role;
use cdp_proto::cdp::v1::{self as pb, Combinator, Operator, condition_node::Node, value::Kind};

/// A moment of the story: `days_ago` days before the last seeded day, at `hour:minute`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct When {
    pub days_ago: u32,
    pub hour: u32,
    pub minute: u32,
}

pub const fn at(days_ago: u32, hour: u32, minute: u32) -> When {
    When { days_ago, hour, minute }
}

/// Who invites the team's first member: the super admin (bootstrapped, or already there).
pub const SUPER_ADMIN: &str = "super_admin";
/// When the seed bootstraps the super admin itself.
pub const BOOTSTRAPPED: When = at(63, 8, 30);
/// Domain of the team's addresses (reserved for examples: no mail ever reaches anyone).
pub const EMAIL_DOMAIN: &str = "cdp-demo.example";

/// A member of the CDP team: invited by `invited_by`, accepting the invitation (or not yet),
/// perhaps disabled later by the admin.
pub struct Member {
    pub key: &'static str,
    pub display_name: &'static str,
    pub role: Role,
    pub invited_by: &'static str,
    pub invited: When,
    pub accepted: Option<When>,
    pub disabled: Option<When>,
}

impl Member {
    /// `amira.hassan@cdp-demo.example`.
    pub fn email(&self) -> String {
        format!("{}@{EMAIL_DOMAIN}", self.display_name.to_lowercase().replace(' ', "."))
    }
}

pub const TEAM: [Member; 7] = [
    Member {
        key: "amira",
        display_name: "Amira Hassan",
        role: Role::Admin,
        invited_by: SUPER_ADMIN,
        invited: at(62, 9, 10),
        accepted: Some(at(62, 10, 2)),
        disabled: None,
    },
    Member {
        key: "omar",
        display_name: "Omar Farouk",
        role: Role::GrowthManager,
        invited_by: "amira",
        invited: at(61, 11, 0),
        accepted: Some(at(61, 13, 20)),
        disabled: None,
    },
    Member {
        key: "karim",
        display_name: "Karim Adel",
        role: Role::DataEngineer,
        invited_by: "amira",
        invited: at(61, 11, 4),
        accepted: Some(at(60, 9, 45)),
        disabled: None,
    },
    Member {
        key: "nour",
        display_name: "Nour Saleh",
        role: Role::ReadOnly,
        invited_by: "amira",
        invited: at(61, 11, 7),
        accepted: Some(at(59, 16, 30)),
        disabled: None,
    },
    Member {
        key: "layla",
        display_name: "Layla Mansour",
        role: Role::GrowthManager,
        invited_by: "amira",
        invited: at(52, 10, 0),
        accepted: Some(at(52, 10, 41)),
        disabled: None,
    },
    Member {
        key: "hany",
        display_name: "Hany Fathy",
        role: Role::GrowthManager,
        invited_by: "amira",
        invited: at(48, 9, 0),
        accepted: Some(at(48, 12, 5)),
        disabled: Some(at(16, 17, 0)),
    },
    Member { key: "youssef", display_name: "Youssef Ali", role: Role::ReadOnly, invited_by: "amira", invited: at(2, 14, 0), accepted: None, disabled: None },
];

/// Who disables members who leave.
pub const DISABLED_BY: &str = "amira";

/// The service credential the marketplace's order service redeems with.
pub const CREDENTIAL: (&str, &str, When) = ("orders-service", "amira", at(60, 15, 0));

/// A saved cohort: created by `owner`, evaluated right after (as the queued refresh does),
/// then by the nightly refresh on each day of `refreshes` (as of that day).
pub struct CohortPlot {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub owner: &'static str,
    pub created: When,
    pub refreshes: &'static [u32],
    pub definition: fn() -> pb::ConditionGroup,
}

/// Local time of the nightly refreshes.
pub const NIGHTLY: (u32, u32) = (5, 30);

pub const COHORTS: [CohortPlot; 4] = [
    CohortPlot {
        key: "dealers_at_risk",
        name: "Car dealers at risk",
        description: "Car dealers who paid for listings but have not transacted for 2 to 8 weeks.",
        owner: "omar",
        created: at(56, 10, 30),
        refreshes: &[42, 28, 14, 7, 1],
        definition: dealers_at_risk,
    },
    CohortPlot {
        key: "new_private_sellers",
        name: "New private sellers",
        description: "Private sellers who signed up in the last 30 days and have posted a listing.",
        owner: "omar",
        created: at(50, 15, 0),
        refreshes: &[36, 22, 1],
        definition: new_private_sellers,
    },
    CohortPlot {
        key: "property_agents",
        name: "High-value property agents",
        description: "Property agencies on the marketplace for 6+ months that have spent 15,000+ credits.",
        owner: "layla",
        created: at(45, 11, 20),
        refreshes: &[38, 24, 10, 1],
        definition: || property_agents(15_000.0),
    },
    CohortPlot {
        key: "lapsed_spenders",
        name: "Lapsed spenders to win back",
        description: "Spent 1,000+ credits, then went quiet: no transaction for 45 days (in the last 6 months), \
                      or no paid listing for 60 days in electronics, fashion or home.",
        owner: "layla",
        created: at(27, 14, 45),
        refreshes: &[23, 16, 9, 1],
        definition: lapsed_spenders,
    },
];

/// A change of a cohort's definition (re-evaluated right after, as the queued refresh does).
pub struct CohortEdit {
    pub cohort: &'static str,
    pub by: &'static str,
    pub at: When,
    pub description: &'static str,
    pub definition: fn() -> pb::ConditionGroup,
}

pub const EDITS: [CohortEdit; 1] = [CohortEdit {
    cohort: "property_agents",
    by: "layla",
    at: at(31, 16, 10),
    description: "Property agencies on the marketplace for 6+ months that have spent 10,000+ credits.",
    definition: || property_agents(10_000.0),
}];

/// "Refresh now" asked for in the UI (RefreshCohort), then run.
pub const MANUAL_REFRESHES: [(&str, &str, When); 1] = [("new_private_sellers", "omar", at(8, 9, 15))];

/// A promotion: created, activated, redeemed by part of its audience, and expired at the end
/// of its TTL, unless `running` (it is still active on the last day).
pub struct PromotionPlot {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub cohort: &'static str,
    pub by: &'static str,
    pub created: When,
    /// None: a draft.
    pub activated: Option<When>,
    pub benefit: pb::PromotionType,
    pub value: f64,
    pub addon: &'static str,
    /// None: a code per user.
    pub code: Option<&'static str>,
    pub per_user: i32,
    pub ttl_days: i64,
    /// A credit budget of this share of (audience × value), for bonus credits; 0: none.
    pub budget_share: f64,
    pub running: bool,
    /// Share of the audience that redeems, and of redeemers who come back for another use.
    pub redeem_rate: f64,
    pub repeat_rate: f64,
}

pub const PROMOTIONS: [PromotionPlot; 6] = [
    PromotionPlot {
        key: "dealers_comeback",
        name: "Dealers comeback: 200 bonus credits",
        description: "200 free credits for car dealers who went quiet.",
        cohort: "dealers_at_risk",
        by: "omar",
        created: at(41, 15, 0),
        activated: Some(at(40, 9, 0)),
        benefit: pb::PromotionType::BonusCredits,
        value: 200.0,
        addon: "",
        code: Some("DEALERS200"),
        per_user: 1,
        ttl_days: 10,
        budget_share: 0.0,
        running: false,
        redeem_rate: 0.22,
        repeat_rate: 0.0,
    },
    PromotionPlot {
        key: "welcome_week",
        name: "Welcome week: 30% off paid listings",
        description: "A personal code for new private sellers: 30% off two paid listings.",
        cohort: "new_private_sellers",
        by: "omar",
        created: at(34, 11, 30),
        activated: Some(at(33, 10, 0)),
        benefit: pb::PromotionType::CreditDiscountPercent,
        value: 30.0,
        addon: "",
        code: None,
        per_user: 2,
        ttl_days: 7,
        budget_share: 0.0,
        running: false,
        redeem_rate: 0.30,
        repeat_rate: 0.35,
    },
    PromotionPlot {
        key: "agents_premium",
        name: "Agents: free Premium add-on",
        description: "One free Premium add-on for high-value property agencies.",
        cohort: "property_agents",
        by: "layla",
        created: at(29, 14, 0),
        activated: Some(at(28, 10, 0)),
        benefit: pb::PromotionType::FreeAddon,
        value: 1.0,
        addon: "premium",
        code: Some("AGENTPREMIUM"),
        per_user: 1,
        ttl_days: 14,
        budget_share: 0.0,
        running: false,
        redeem_rate: 0.35,
        repeat_rate: 0.0,
    },
    PromotionPlot {
        key: "win_back",
        name: "Win-back: 100 bonus credits",
        description: "100 free credits to bring lapsed spenders back.",
        cohort: "lapsed_spenders",
        by: "layla",
        created: at(21, 16, 0),
        activated: Some(at(20, 9, 30)),
        benefit: pb::PromotionType::BonusCredits,
        value: 100.0,
        addon: "",
        code: Some("WINBACK100"),
        per_user: 1,
        ttl_days: 7,
        budget_share: 0.0,
        running: false,
        redeem_rate: 0.12,
        repeat_rate: 0.0,
    },
    PromotionPlot {
        key: "dealers_at_risk_150",
        name: "Dealers at risk: 150 bonus credits",
        description: "150 free credits for car dealers at risk of churning.",
        cohort: "dealers_at_risk",
        by: "omar",
        created: at(7, 17, 0),
        activated: Some(at(6, 9, 0)),
        benefit: pb::PromotionType::BonusCredits,
        value: 150.0,
        addon: "",
        code: Some("ATRISK150"),
        per_user: 1,
        ttl_days: 14,
        budget_share: 0.6,
        running: true,
        redeem_rate: 0.20,
        repeat_rate: 0.0,
    },
    PromotionPlot {
        key: "ramadan_baraka",
        name: "Ramadan: Baraka offer for new sellers",
        description: "Seven days of the Baraka offer for new private sellers (draft).",
        cohort: "new_private_sellers",
        by: "layla",
        created: at(2, 12, 0),
        activated: None,
        benefit: pb::PromotionType::OfferBaraka,
        value: 7.0,
        addon: "",
        code: Some("BARAKA7"),
        per_user: 1,
        ttl_days: 7,
        budget_share: 0.0,
        running: false,
        redeem_rate: 0.0,
        repeat_rate: 0.0,
    },
];

/// The running promotion's window, moved a week later while it runs.
pub const EXTENSIONS: [(&str, &str, When, i64); 1] = [("dealers_at_risk_150", "omar", at(3, 11, 0), 7)];

/// Syncs a data engineer asked for: (cohort, target, who, when).
pub const SYNCS: [(&str, &str, &str, When); 3] = [
    ("dealers_at_risk", "braze", "karim", at(38, 11, 0)),
    ("dealers_at_risk", "amplitude", "karim", at(38, 11, 5)),
    ("lapsed_spenders", "braze", "karim", at(19, 15, 20)),
];

// ---- the cohorts' definitions ---------------------------------------------------------------

fn condition(field: &str, operator: Operator, value: Option<Kind>) -> pb::ConditionNode {
    pb::ConditionNode {
        node: Some(Node::Condition(pb::Condition {
            field: field.into(),
            operator: operator as i32,
            value: value.map(|kind| pb::Value { kind: Some(kind) }),
            value_to: None,
        })),
    }
}

fn group(combinator: Combinator, nodes: Vec<pb::ConditionNode>) -> pb::ConditionGroup {
    pb::ConditionGroup { combinator: combinator as i32, nodes }
}

fn nested(combinator: Combinator, nodes: Vec<pb::ConditionNode>) -> pb::ConditionNode {
    pb::ConditionNode { node: Some(Node::Group(group(combinator, nodes))) }
}

fn text(value: &str) -> Option<Kind> {
    Some(Kind::Text(value.into()))
}

fn number(value: f64) -> Option<Kind> {
    Some(Kind::Number(value))
}

fn days(value: i64) -> Option<Kind> {
    Some(Kind::Days(value))
}

fn dealers_at_risk() -> pb::ConditionGroup {
    group(
        Combinator::And,
        vec![
            condition("user_type", Operator::Equals, text("dealer")),
            condition("favorite_vertical", Operator::Equals, text("cars")),
            condition("paid_listings_count", Operator::GreaterThan, number(0.0)),
            condition("last_transaction_date", Operator::MoreThanDaysAgo, days(14)),
            condition("last_transaction_date", Operator::WithinLastDays, days(60)),
        ],
    )
}

fn new_private_sellers() -> pb::ConditionGroup {
    group(
        Combinator::And,
        vec![
            condition("user_type", Operator::Equals, text("individual")),
            condition("user_account_creation_date", Operator::WithinLastDays, days(30)),
            condition("total_listings_count", Operator::GreaterOrEqual, number(1.0)),
        ],
    )
}

fn property_agents(credits: f64) -> pb::ConditionGroup {
    group(
        Combinator::And,
        vec![
            condition("user_type", Operator::Equals, text("agency")),
            condition("favorite_vertical", Operator::Equals, text("property")),
            condition("total_credits_spent", Operator::GreaterOrEqual, number(credits)),
            condition("user_account_creation_date", Operator::MoreThanDaysAgo, days(180)),
        ],
    )
}

/// The one with a nested OR group (of AND groups).
fn lapsed_spenders() -> pb::ConditionGroup {
    let verticals = Some(Kind::Texts(pb::StringList { values: vec!["electronics".into(), "fashion".into(), "home".into()] }));
    group(
        Combinator::And,
        vec![
            condition("total_credits_spent", Operator::GreaterOrEqual, number(1000.0)),
            nested(
                Combinator::Or,
                vec![
                    nested(
                        Combinator::And,
                        vec![
                            condition("last_transaction_date", Operator::MoreThanDaysAgo, days(45)),
                            condition("last_transaction_date", Operator::WithinLastDays, days(180)),
                        ],
                    ),
                    nested(
                        Combinator::And,
                        vec![
                            condition("verticals_listed_in", Operator::ContainsAny, verticals),
                            condition("last_paid_listing_date", Operator::MoreThanDaysAgo, days(60)),
                            condition("last_paid_listing_date", Operator::WithinLastDays, days(365)),
                        ],
                    ),
                ],
            ),
        ],
    )
}
