//! The field catalogue: every column of `public.users` (81, grouped as a growth manager thinks
//! of them), the CDP-owned attributes, activity aggregates, identities and cohort membership.
//! Each field knows its SQL expression, so the compiler and the explorer's `order_by` only
//! ever put catalogue text into SQL.

use cdp_proto::cdp::v1::{self as pb, Operator as Op};
use std::{collections::HashMap, sync::LazyLock};

/// Type of a field as the API shows it (`cdp.v1.FieldType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Number,
    Text,
    List,
    Timestamp,
    Boolean,
    Cohort,
}

impl FieldType {
    pub fn to_proto(self) -> pb::FieldType {
        match self {
            FieldType::Number => pb::FieldType::Number,
            FieldType::Text => pb::FieldType::Text,
            FieldType::List => pb::FieldType::List,
            FieldType::Timestamp => pb::FieldType::Timestamp,
            FieldType::Boolean => pb::FieldType::Boolean,
            FieldType::Cohort => pb::FieldType::Cohort,
        }
    }
}

/// How a field is stored, which decides the SQL the compiler writes for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// integer / bigint column.
    Integer,
    /// double precision column.
    Double,
    Text,
    /// A text value from a fixed set (`Field::fixed_values`), stored lowercase.
    Enum,
    /// Comma-separated lowercase slugs in a text column (DESIGN §3).
    CommaList,
    /// A text[] column.
    TextArray,
    /// timestamp without time zone, in the reporting time zone.
    Timestamp,
    Date,
    /// A 0/1 integer column.
    IntFlag,
    /// A boolean expression that is never null.
    Bool,
    /// Membership in a CDP cohort (`cdp.cohort_members`).
    CohortMembership,
    /// Membership in the latest import of an Amplitude cohort.
    AmplitudeMembership,
}

/// A table the field's expression reads besides `public.users u`, always LEFT JOINed on
/// `user_id` (one row per user at most, so a join never duplicates users).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Join {
    /// `cdp.user_attributes a`: CDP-owned attributes.
    Attributes,
    /// `cdp.user_stats s`: activity rollups and the computed lifecycle stage.
    Stats,
    /// `cdp.identities i`: Amplitude and Braze ids.
    Identities,
}

impl Join {
    pub const ALL: [Join; 3] = [Join::Attributes, Join::Stats, Join::Identities];

    pub fn sql(self) -> &'static str {
        match self {
            Join::Attributes => " LEFT JOIN cdp.user_attributes a ON a.user_id = u.user_id",
            Join::Stats => " LEFT JOIN cdp.user_stats s ON s.user_id = u.user_id",
            Join::Identities => " LEFT JOIN cdp.identities i ON i.user_id = u.user_id",
        }
    }

    /// The table with its alias, to read it alone (`FROM cdp.user_stats s`).
    pub fn table(self) -> &'static str {
        match self {
            Join::Attributes => "cdp.user_attributes a",
            Join::Stats => "cdp.user_stats s",
            Join::Identities => "cdp.identities i",
        }
    }

    /// Its alias, whose `user_id` is the user's.
    pub fn alias(self) -> &'static str {
        match self {
            Join::Attributes => "a",
            Join::Stats => "s",
            Join::Identities => "i",
        }
    }
}

/// One field of the catalogue.
#[derive(Clone, Debug)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// `account`, `wallet`, `listings`, `plans`, `addons`, `offers`, `cdp`, `activity`, `cohorts`.
    pub group: &'static str,
    pub storage: Storage,
    /// SQL over `u` and the aliases of `joins`; written here, never taken from a request. A
    /// field with joins reads only their aliases, never `u` (a condition on it can then be
    /// evaluated on the joined table alone; a test holds this).
    pub expr: String,
    pub joins: &'static [Join],
    pub description: &'static str,
    pub unit: &'static str,
    pub sortable: bool,
    pub distributable: bool,
    /// Personal data: only callers with `users.read_pii` may filter on it.
    pub pii: bool,
    /// The complete set of values of an `Enum` field.
    pub fixed_values: &'static [&'static str],
}

impl Field {
    pub fn field_type(&self) -> FieldType {
        match self.storage {
            Storage::Integer | Storage::Double => FieldType::Number,
            Storage::Text | Storage::Enum => FieldType::Text,
            Storage::CommaList | Storage::TextArray => FieldType::List,
            Storage::Timestamp | Storage::Date => FieldType::Timestamp,
            Storage::IntFlag | Storage::Bool => FieldType::Boolean,
            Storage::CohortMembership | Storage::AmplitudeMembership => FieldType::Cohort,
        }
    }

    /// The operators this field accepts, in the order a UI should offer them.
    pub fn operators(&self) -> &'static [Op] {
        match self.storage {
            Storage::Integer | Storage::Double => &[
                Op::Equals,
                Op::NotEquals,
                Op::GreaterThan,
                Op::GreaterOrEqual,
                Op::LessThan,
                Op::LessOrEqual,
                Op::Between,
                Op::In,
                Op::NotIn,
                Op::IsSet,
                Op::IsNotSet,
            ],
            Storage::Text => &[Op::Equals, Op::NotEquals, Op::Contains, Op::NotContains, Op::StartsWith, Op::In, Op::NotIn, Op::IsSet, Op::IsNotSet],
            Storage::Enum => &[Op::Equals, Op::NotEquals, Op::In, Op::NotIn],
            Storage::CommaList | Storage::TextArray => &[Op::ContainsAny, Op::ContainsAll, Op::ContainsNone, Op::IsSet, Op::IsNotSet],
            Storage::Timestamp | Storage::Date => {
                &[Op::WithinLastDays, Op::MoreThanDaysAgo, Op::Before, Op::After, Op::Between, Op::Equals, Op::IsSet, Op::IsNotSet]
            }
            Storage::IntFlag => &[Op::Equals, Op::NotEquals, Op::IsSet, Op::IsNotSet],
            Storage::Bool => &[Op::Equals, Op::NotEquals],
            Storage::CohortMembership => &[Op::InCohort, Op::NotInCohort],
            Storage::AmplitudeMembership => &[Op::InAmplitudeCohort, Op::NotInAmplitudeCohort],
        }
    }

    pub fn allows(&self, op: Op) -> bool {
        self.operators().contains(&op)
    }

    /// The catalogue entry as the API returns it (`values` are filled by the caller from the
    /// known-values rollup, except for fixed sets).
    pub fn to_proto(&self, known_values: Vec<String>) -> pb::UserField {
        let exhaustive = !self.fixed_values.is_empty();
        let values = if exhaustive { self.fixed_values.iter().map(|v| v.to_string()).collect() } else { known_values };
        pb::UserField {
            name: self.name.to_string(),
            label: self.label.to_string(),
            group: self.group.to_string(),
            r#type: self.field_type().to_proto() as i32,
            operators: self.operators().iter().map(|op| *op as i32).collect(),
            description: self.description.to_string(),
            values,
            values_exhaustive: exhaustive,
            sortable: self.sortable,
            distributable: self.distributable,
            unit: self.unit.to_string(),
        }
    }
}

/// The account statuses of `cdp.user_attributes` (lowercase `AccountStatus` names).
pub const ACCOUNT_STATUSES: &[&str] = &["active", "under_review", "suspended"];
/// The lifecycle stages (lowercase `LifecycleStage` names, DESIGN §8).
pub const LIFECYCLE_STAGES: &[&str] = &["new", "activated", "active", "about_to_churn", "churned", "reactivated", "dormant"];

/// All fields, in display order within each group.
pub struct Catalogue {
    fields: Vec<Field>,
    by_name: HashMap<&'static str, usize>,
}

impl Catalogue {
    /// The product's catalogue (built once).
    pub fn standard() -> &'static Catalogue {
        static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue::new(standard_fields()));
        &CATALOGUE
    }

    fn new(fields: Vec<Field>) -> Catalogue {
        let by_name = fields.iter().enumerate().map(|(i, f)| (f.name, i)).collect();
        Catalogue { fields, by_name }
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        self.by_name.get(name).map(|&i| &self.fields[i])
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }
}

/// A column of `public.users`.
fn column(name: &'static str, label: &'static str, group: &'static str, storage: Storage, unit: &'static str, description: &'static str) -> Field {
    let categorical_or_numeric = matches!(storage, Storage::Integer | Storage::Double | Storage::Text | Storage::CommaList | Storage::IntFlag);
    Field {
        name,
        label,
        group,
        storage,
        expr: format!("u.{name}"),
        joins: &[],
        description,
        unit,
        sortable: !matches!(storage, Storage::CommaList),
        distributable: categorical_or_numeric && name != "user_id",
        pii: false,
        fixed_values: &[],
    }
}

/// An activity aggregate of `cdp.user_stats` (refreshed by the `users.refresh_stats` job).
fn stat(name: &'static str, label: &'static str, storage: Storage, unit: &'static str, description: &'static str) -> Field {
    Field {
        name,
        label,
        group: "activity",
        storage,
        expr: format!("s.{name}"),
        joins: &[Join::Stats],
        description,
        unit,
        sortable: true,
        distributable: matches!(storage, Storage::Integer | Storage::Double),
        pii: false,
        fixed_values: &[],
    }
}

fn standard_fields() -> Vec<Field> {
    use Storage::*;
    let mut phone = column("phone", "Phone", "account", Text, "", "Phone number as digits. Personal data: filtering on it needs users.read_pii.");
    phone.expr = "u.phone::text".into();
    phone.pii = true;
    phone.sortable = false;
    phone.distributable = false;

    let mut fields = vec![
        // Identity & account.
        column("user_id", "User id", "account", Integer, "", "The marketplace's user id."),
        column("user_type", "User type", "account", Text, "", "Kind of account, e.g. individual, office, shop."),
        phone,
        column("is_block", "Blocked", "account", IntFlag, "", "Whether the marketplace has blocked the user."),
        column("user_account_creation_date", "Account created", "account", Timestamp, "", "When the account was created."),
        column("active_months_last_6", "Active months (last 6)", "account", Double, "months", "Number of the last 6 months in which the user was active."),
        column("active_weeks_last_12", "Active weeks (last 12)", "account", Double, "weeks", "Number of the last 12 weeks in which the user was active."),
        // Wallet & credits.
        column("current_credits_in_wallet", "Credits in wallet", "wallet", Double, "credits", "Credits currently in the user's wallet."),
        column("total_credits_spent", "Total credits spent", "wallet", Integer, "credits", "Credits spent over the user's lifetime."),
        column("total_premium_credits_spent", "Premium credits spent", "wallet", Integer, "credits", "Bought (premium) credits spent."),
        column("total_free_credits_spent", "Free credits spent", "wallet", Integer, "credits", "Credits given for free that were spent."),
        column("first_transaction_date", "First transaction", "wallet", Timestamp, "", "First transaction (credit purchase or spend)."),
        column("last_transaction_date", "Last transaction", "wallet", Timestamp, "", "Latest transaction."),
        column(
            "days_since_last_paid_transaction",
            "Days since last paid transaction",
            "wallet",
            Integer,
            "days",
            "Days since the latest paid transaction (as of the last ETL load).",
        ),
        column(
            "days_since_last_transaction",
            "Days since last transaction",
            "wallet",
            Integer,
            "days",
            "Days since the latest transaction (as of the last ETL load).",
        ),
        // Listings.
        column("paid_listings_count", "Paid listings", "listings", Integer, "listings", "Paid listings posted."),
        column("free_listings_count", "Free listings", "listings", Integer, "listings", "Free listings posted."),
        column("total_listings_count", "Total listings", "listings", Integer, "listings", "All listings posted."),
        column("office_listings_count", "Office listings", "listings", Integer, "listings", "Listings posted under an office (business) plan."),
        column("first_paid_listing_date", "First paid listing", "listings", Timestamp, "", "First paid listing."),
        column("last_paid_listing_date", "Last paid listing", "listings", Timestamp, "", "Latest paid listing."),
        column(
            "days_since_last_paid_listing",
            "Days since last paid listing",
            "listings",
            Integer,
            "days",
            "Days since the latest paid listing (as of the last ETL load).",
        ),
        column("verticals_listed_in", "Verticals listed in", "listings", CommaList, "", "Verticals the user has listed in (e.g. cars, property)."),
        column("levels_1_listed_in", "Categories listed in", "listings", CommaList, "", "Level-1 categories the user has listed in."),
        column("favorite_vertical", "Favorite vertical", "listings", Text, "", "Vertical with the most listings."),
        column("favorite_level_1", "Favorite category", "listings", Text, "", "Level-1 category with the most listings."),
        column("number_of_verticals_listed_in", "Number of verticals", "listings", Integer, "verticals", "Distinct verticals listed in."),
        column("number_of_level1_categories_listed_in", "Number of categories", "listings", Integer, "categories", "Distinct level-1 categories listed in."),
        column("is_multivertical_user", "Multi-vertical user", "listings", IntFlag, "", "Whether the user lists in more than one vertical."),
        // Spend by plan.
        column("plans_or_bundles_used", "Plans or bundles used", "plans", CommaList, "", "Plans or bundles the user has used."),
        column("favorite_plan_or_bundle", "Favorite plan or bundle", "plans", Text, "", "Plan or bundle used most."),
        column("basic_listings_count", "Basic listings", "plans", Integer, "listings", "Listings on the Basic plan."),
        column("basic_credits_spent", "Basic credits", "plans", Integer, "credits", "Credits spent on the Basic plan."),
        column("pro_listings_count", "Pro listings", "plans", Integer, "listings", "Listings on the Pro plan."),
        column("pro_credits_spent", "Pro credits", "plans", Integer, "credits", "Credits spent on the Pro plan."),
        column("extra_listings_count", "Extra listings", "plans", Integer, "listings", "Listings on the Extra plan."),
        column("extra_credits_spent", "Extra credits", "plans", Integer, "credits", "Credits spent on the Extra plan."),
        column("plus_listings_count", "Plus listings", "plans", Integer, "listings", "Listings on the Plus plan."),
        column("plus_credits_spent", "Plus credits", "plans", Integer, "credits", "Credits spent on the Plus plan."),
        column("super_listings_count", "Super listings", "plans", Integer, "listings", "Listings on the Super plan."),
        column("super_credits_spent", "Super credits", "plans", Integer, "credits", "Credits spent on the Super plan."),
        column("standard_listings_count", "Standard listings", "plans", Integer, "listings", "Listings on the Standard plan."),
        column("standard_credits_spent", "Standard credits", "plans", Integer, "credits", "Credits spent on the Standard plan."),
        column("premium_listings_count", "Premium listings", "plans", Integer, "listings", "Listings on the Premium plan."),
        column("premium_credits_spent", "Premium credits", "plans", Integer, "credits", "Credits spent on the Premium plan."),
        column("optimum_listings_count", "Optimum listings", "plans", Integer, "listings", "Listings on the Optimum plan."),
        column("optimum_credits_spent", "Optimum credits", "plans", Integer, "credits", "Credits spent on the Optimum plan."),
        column("car_offices_listings_count", "Car offices listings", "plans", Integer, "listings", "Listings on the car offices bundle."),
        column("car_offices_credits_spent", "Car offices credits", "plans", Integer, "credits", "Credits spent on the car offices bundle."),
        column("property_offices_listings_count", "Property offices listings", "plans", Integer, "listings", "Listings on the property offices bundle."),
        column("property_offices_credits_spent", "Property offices credits", "plans", Integer, "credits", "Credits spent on the property offices bundle."),
        column("electronics_shops_listings_count", "Electronics shops listings", "plans", Integer, "listings", "Listings on the electronics shops bundle."),
        column("electronics_shops_credits_spent", "Electronics shops credits", "plans", Integer, "credits", "Credits spent on the electronics shops bundle."),
        // Add-ons.
        column("extra_addons_count", "Add-ons bought", "addons", Integer, "add-ons", "Add-ons bought."),
        column("extra_addons_total_credits", "Add-on credits", "addons", Double, "credits", "Credits spent on add-ons."),
        column("extra_addons_premium_credits", "Add-on premium credits", "addons", Double, "credits", "Bought (premium) credits spent on add-ons."),
        column("extra_addons_free_credits", "Add-on free credits", "addons", Double, "credits", "Free credits spent on add-ons."),
        column("favorite_extra_addon", "Favorite add-on", "addons", Text, "", "Add-on used most."),
        column("top_extra_addons", "Top add-ons", "addons", CommaList, "", "Add-ons used most."),
        column("addon_pinning_listings_count", "Pinning listings", "addons", Integer, "listings", "Listings with the Pinning add-on."),
        column("addon_pinning_credits_spent", "Pinning credits", "addons", Integer, "credits", "Credits spent on the Pinning add-on."),
        column("addon_extended_listings_count", "Extended listings", "addons", Integer, "listings", "Listings with the Extended add-on."),
        column("addon_extended_credits_spent", "Extended credits", "addons", Integer, "credits", "Credits spent on the Extended add-on."),
        column("addon_promoted_listings_count", "Promoted listings", "addons", Integer, "listings", "Listings with the Promoted add-on."),
        column("addon_promoted_credits_spent", "Promoted credits", "addons", Integer, "credits", "Credits spent on the Promoted add-on."),
        column("addon_pinning_shuffle_listings_count", "Pinning Shuffle listings", "addons", Integer, "listings", "Listings with the Pinning Shuffle add-on."),
        column("addon_pinning_shuffle_credits_spent", "Pinning Shuffle credits", "addons", Integer, "credits", "Credits spent on the Pinning Shuffle add-on."),
        column("addon_premium_listings_count", "Premium add-on listings", "addons", Integer, "listings", "Listings with the Premium add-on."),
        column("addon_premium_credits_spent", "Premium add-on credits", "addons", Integer, "credits", "Credits spent on the Premium add-on."),
        column("addon_power_pin_listings_count", "Power Pin listings", "addons", Integer, "listings", "Listings with the Power Pin add-on."),
        column("addon_power_pin_credits_spent", "Power Pin credits", "addons", Integer, "credits", "Credits spent on the Power Pin add-on."),
        column("addon_refresh_listings_count", "Refresh listings", "addons", Integer, "listings", "Listings with the Refresh add-on."),
        column("addon_refresh_credits_spent", "Refresh credits", "addons", Integer, "credits", "Credits spent on the Refresh add-on."),
        column("addon_vip_listings_count", "VIP listings", "addons", Integer, "listings", "Listings with the VIP add-on."),
        column("addon_vip_credits_spent", "VIP credits", "addons", Integer, "credits", "Credits spent on the VIP add-on."),
        // Offers.
        column("offer_50_days_used", "50% offer days", "offers", Integer, "days", "Days on which the user used the 50% offer."),
        column("offer_baraka_days_used", "Baraka offer days", "offers", Integer, "days", "Days on which the user used the Baraka offer."),
        column("offer_total_days_used", "Offer days", "offers", Integer, "days", "Days on which the user used any offer."),
        column("offer_50_percentage", "50% offer share", "offers", Double, "percent", "Share of the user's activity on the 50% offer."),
        column("offer_baraka_percentage", "Baraka offer share", "offers", Double, "percent", "Share of the user's activity on the Baraka offer."),
        column("offer_total_percentage", "Offer share", "offers", Double, "percent", "Share of the user's activity on any offer."),
    ];

    // CDP-owned attributes and identities.
    fields.extend([
        Field {
            name: "account_status",
            label: "Account status",
            group: "cdp",
            storage: Enum,
            expr: "coalesce(a.account_status, 'active')".into(),
            joins: &[Join::Attributes],
            description: "The CDP's account status, set by admins (active unless changed). Suspended users are never eligible for promotions.",
            unit: "",
            sortable: true,
            distributable: true,
            pii: false,
            fixed_values: ACCOUNT_STATUSES,
        },
        Field {
            name: "lifecycle_stage",
            label: "Lifecycle stage",
            group: "cdp",
            storage: Enum,
            expr: "coalesce(a.lifecycle_stage_override, s.lifecycle_stage, 'dormant')".into(),
            joins: &[Join::Attributes, Join::Stats],
            description: "Where the user is in their lifecycle (computed from activity; an admin override wins). Definitions in docs/metrics.md.",
            unit: "",
            sortable: true,
            distributable: true,
            pii: false,
            fixed_values: LIFECYCLE_STAGES,
        },
        Field {
            name: "tags",
            label: "Tags",
            group: "cdp",
            storage: TextArray,
            expr: "coalesce(a.tags, '{}'::text[])".into(),
            joins: &[Join::Attributes],
            description: "Labels set by the CDP's users.",
            unit: "",
            sortable: false,
            distributable: true,
            pii: false,
            fixed_values: &[],
        },
        Field {
            name: "has_amplitude_id",
            label: "Matched in Amplitude",
            group: "cdp",
            storage: Bool,
            expr: "(coalesce(i.amplitude_id, '') <> '')".into(),
            joins: &[Join::Identities],
            description: "Whether identity resolution found the user's Amplitude id.",
            unit: "",
            sortable: false,
            distributable: true,
            pii: false,
            fixed_values: &[],
        },
        Field {
            name: "has_braze_id",
            label: "Matched in Braze",
            group: "cdp",
            storage: Bool,
            expr: "(coalesce(i.braze_id, '') <> '')".into(),
            joins: &[Join::Identities],
            description: "Whether identity resolution found the user's Braze external id.",
            unit: "",
            sortable: false,
            distributable: true,
            pii: false,
            fixed_values: &[],
        },
    ]);

    // Activity aggregates (days are calendar days in the reporting time zone).
    fields.extend([
        stat("last_active_day", "Last active day", Date, "", "Latest day with activity."),
        stat("first_active_day", "First active day", Date, "", "First day with activity."),
        stat("active_days_7", "Active days (7 d)", Integer, "days", "Days with activity in the last 7 days."),
        stat("active_days_30", "Active days (30 d)", Integer, "days", "Days with activity in the last 30 days."),
        stat("active_days_90", "Active days (90 d)", Integer, "days", "Days with activity in the last 90 days."),
        stat("sessions_30", "Sessions (30 d)", Integer, "sessions", "Sessions in the last 30 days."),
        stat("session_seconds_30", "Session time (30 d)", Integer, "seconds", "Total session time in the last 30 days."),
        stat("events_30", "Events (30 d)", Integer, "events", "Tracked events in the last 30 days."),
        stat("listings_posted_30", "Listings posted (30 d)", Integer, "listings", "Listings posted in the last 30 days."),
        stat("paid_listings_30", "Paid listings (30 d)", Integer, "listings", "Paid listings posted in the last 30 days."),
        stat("transactions_30", "Transactions (30 d)", Integer, "transactions", "Transactions in the last 30 days."),
        stat("credits_spent_30", "Credits spent (30 d)", Integer, "credits", "Credits spent in the last 30 days."),
        stat("cltv", "CLTV", Double, "credits", "Customer lifetime value: the credits the user has spent over their lifetime (total_credits_spent)."),
    ]);

    // Membership.
    fields.extend([
        Field {
            name: "cohort",
            label: "Cohort",
            group: "cohorts",
            storage: CohortMembership,
            expr: String::new(),
            joins: &[],
            description: "Current membership in a saved CDP cohort.",
            unit: "",
            sortable: false,
            distributable: false,
            pii: false,
            fixed_values: &[],
        },
        Field {
            name: "amplitude_cohort",
            label: "Amplitude cohort",
            group: "cohorts",
            storage: AmplitudeMembership,
            expr: String::new(),
            joins: &[],
            description: "Membership in the latest import of an Amplitude cohort.",
            unit: "",
            sortable: false,
            distributable: false,
            pii: false,
            fixed_values: &[],
        },
    ]);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_users_column_is_in_the_catalogue_once() {
        let catalogue = Catalogue::standard();
        let columns: Vec<&Field> = catalogue.fields().iter().filter(|f| f.expr.starts_with("u.")).collect();
        assert_eq!(columns.len(), 81);
        assert_eq!(catalogue.by_name.len(), catalogue.fields().len(), "names are unique");
        let lists: Vec<&str> = columns.iter().filter(|f| f.storage == Storage::CommaList).map(|f| f.name).collect();
        assert_eq!(lists, ["verticals_listed_in", "levels_1_listed_in", "plans_or_bundles_used", "top_extra_addons"]);
        let flags: Vec<&str> = columns.iter().filter(|f| f.storage == Storage::IntFlag).map(|f| f.name).collect();
        assert_eq!(flags, ["is_block", "is_multivertical_user"]);
    }

    #[test]
    fn a_field_with_joins_reads_only_their_aliases() {
        for field in Catalogue::standard().fields().iter().filter(|f| !f.joins.is_empty()) {
            assert!(!field.expr.contains("u."), "{}", field.name);
            for join in field.joins {
                assert!(field.expr.contains(&format!("{}.", join.alias())), "{}", field.name);
            }
        }
    }

    #[test]
    fn field_expressions_are_plain_catalogue_sql() {
        // Nothing that could end a statement or open a comment, whatever a future edit adds.
        for field in Catalogue::standard().fields() {
            assert!(!field.expr.contains(';') && !field.expr.contains("--") && !field.expr.contains('$'), "{}", field.name);
            assert!(!field.operators().is_empty(), "{}", field.name);
        }
    }
}
