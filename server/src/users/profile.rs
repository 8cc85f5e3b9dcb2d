//! A `public.users` row (all 81 columns, read with `sql_query` into a `QueryableByName`
//! struct, DESIGN §9) and its conversion into the grouped profile messages.

use cdp_proto::cdp::v1 as pb;
use chrono::{NaiveDateTime, TimeZone};
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Double, Integer, Nullable, Text, Timestamp},
};

type NInt = Nullable<Integer>;
type NDouble = Nullable<Double>;
type NText = Nullable<Text>;
type NTs = Nullable<Timestamp>;

/// Every column of `public.users`, in the brief's order.
#[derive(QueryableByName, Debug, Clone)]
pub struct UserRow {
    #[diesel(sql_type = Integer)]
    pub user_id: i32,
    #[diesel(sql_type = NText)]
    pub user_type: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub phone: Option<i64>,
    #[diesel(sql_type = NDouble)]
    pub current_credits_in_wallet: Option<f64>,
    #[diesel(sql_type = NInt)]
    pub is_block: Option<i32>,
    #[diesel(sql_type = NTs)]
    pub user_account_creation_date: Option<NaiveDateTime>,
    #[diesel(sql_type = NTs)]
    pub first_paid_listing_date: Option<NaiveDateTime>,
    #[diesel(sql_type = NTs)]
    pub last_paid_listing_date: Option<NaiveDateTime>,
    #[diesel(sql_type = NTs)]
    pub first_transaction_date: Option<NaiveDateTime>,
    #[diesel(sql_type = NTs)]
    pub last_transaction_date: Option<NaiveDateTime>,
    #[diesel(sql_type = NInt)]
    pub days_since_last_paid_listing: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub days_since_last_paid_transaction: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub days_since_last_transaction: Option<i32>,
    #[diesel(sql_type = NDouble)]
    pub active_months_last_6: Option<f64>,
    #[diesel(sql_type = NDouble)]
    pub active_weeks_last_12: Option<f64>,
    #[diesel(sql_type = NInt)]
    pub paid_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub free_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub total_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub office_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub total_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub total_premium_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub total_free_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub extra_addons_count: Option<i32>,
    #[diesel(sql_type = NDouble)]
    pub extra_addons_total_credits: Option<f64>,
    #[diesel(sql_type = NDouble)]
    pub extra_addons_premium_credits: Option<f64>,
    #[diesel(sql_type = NDouble)]
    pub extra_addons_free_credits: Option<f64>,
    #[diesel(sql_type = NText)]
    pub verticals_listed_in: Option<String>,
    #[diesel(sql_type = NText)]
    pub levels_1_listed_in: Option<String>,
    #[diesel(sql_type = NText)]
    pub plans_or_bundles_used: Option<String>,
    #[diesel(sql_type = NText)]
    pub favorite_vertical: Option<String>,
    #[diesel(sql_type = NText)]
    pub favorite_level_1: Option<String>,
    #[diesel(sql_type = NInt)]
    pub number_of_verticals_listed_in: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub number_of_level1_categories_listed_in: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub is_multivertical_user: Option<i32>,
    #[diesel(sql_type = NText)]
    pub favorite_plan_or_bundle: Option<String>,
    #[diesel(sql_type = NText)]
    pub favorite_extra_addon: Option<String>,
    #[diesel(sql_type = NText)]
    pub top_extra_addons: Option<String>,
    #[diesel(sql_type = NInt)]
    pub basic_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub basic_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub pro_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub pro_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub extra_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub extra_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub plus_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub plus_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub super_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub super_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub standard_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub standard_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub premium_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub premium_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub optimum_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub optimum_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub car_offices_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub car_offices_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub property_offices_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub property_offices_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub electronics_shops_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub electronics_shops_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_pinning_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_pinning_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_extended_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_extended_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_promoted_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_promoted_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_pinning_shuffle_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_pinning_shuffle_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_premium_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_premium_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_power_pin_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_power_pin_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_refresh_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_refresh_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_vip_listings_count: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub addon_vip_credits_spent: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub offer_50_days_used: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub offer_baraka_days_used: Option<i32>,
    #[diesel(sql_type = NInt)]
    pub offer_total_days_used: Option<i32>,
    #[diesel(sql_type = NDouble)]
    pub offer_50_percentage: Option<f64>,
    #[diesel(sql_type = NDouble)]
    pub offer_baraka_percentage: Option<f64>,
    #[diesel(sql_type = NDouble)]
    pub offer_total_percentage: Option<f64>,
}

/// The phone as shown to a caller: digits, or `*` for all but the last 4 without
/// `users.read_pii`. Returns (phone, masked).
pub fn shown_phone(phone: Option<i64>, read_pii: bool) -> (Option<String>, bool) {
    match phone {
        None => (None, !read_pii),
        Some(p) if read_pii => (Some(p.to_string()), false),
        Some(p) => {
            let digits = p.to_string();
            // Too short to hide anything if its last 4 digits showed: hide it all.
            let keep = if digits.len() > 4 { 4 } else { 0 };
            let masked = format!("{}{}", "*".repeat(digits.len() - keep), &digits[digits.len() - keep..]);
            (Some(masked), true)
        }
    }
}

/// A wall time of the reporting zone (how the ETL columns are stored) as an instant.
pub fn instant(at: Option<NaiveDateTime>, tz: chrono_tz::Tz) -> Option<prost_types::Timestamp> {
    let at = at?;
    // A wall time in a DST gap does not exist: read it as the instant just after the gap.
    let utc =
        tz.from_local_datetime(&at).earliest().or_else(|| tz.from_local_datetime(&(at + chrono::Duration::hours(1))).earliest())?.with_timezone(&chrono::Utc);
    Some(crate::convert::timestamp(utc))
}

/// The comma-separated slugs of a list column (DESIGN §3) as a list.
pub fn slugs(list: &Option<String>) -> Vec<String> {
    list.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

impl UserRow {
    /// The brief's columns grouped as the profile shows them.
    pub fn groups(
        &self,
        read_pii: bool,
        tz: chrono_tz::Tz,
    ) -> (pb::UserAccount, pb::UserWallet, pb::UserListings, pb::UserPlanSpend, pb::UserAddons, pb::UserOffers, bool) {
        let UserRow {
            user_id,
            user_type,
            phone,
            current_credits_in_wallet,
            is_block,
            user_account_creation_date,
            first_paid_listing_date,
            last_paid_listing_date,
            first_transaction_date,
            last_transaction_date,
            days_since_last_paid_listing,
            days_since_last_paid_transaction,
            days_since_last_transaction,
            active_months_last_6,
            active_weeks_last_12,
            paid_listings_count,
            free_listings_count,
            total_listings_count,
            office_listings_count,
            total_credits_spent,
            total_premium_credits_spent,
            total_free_credits_spent,
            extra_addons_count,
            extra_addons_total_credits,
            extra_addons_premium_credits,
            extra_addons_free_credits,
            verticals_listed_in,
            levels_1_listed_in,
            plans_or_bundles_used,
            favorite_vertical,
            favorite_level_1,
            number_of_verticals_listed_in,
            number_of_level1_categories_listed_in,
            is_multivertical_user,
            favorite_plan_or_bundle,
            favorite_extra_addon,
            top_extra_addons,
            basic_listings_count,
            basic_credits_spent,
            pro_listings_count,
            pro_credits_spent,
            extra_listings_count,
            extra_credits_spent,
            plus_listings_count,
            plus_credits_spent,
            super_listings_count,
            super_credits_spent,
            standard_listings_count,
            standard_credits_spent,
            premium_listings_count,
            premium_credits_spent,
            optimum_listings_count,
            optimum_credits_spent,
            car_offices_listings_count,
            car_offices_credits_spent,
            property_offices_listings_count,
            property_offices_credits_spent,
            electronics_shops_listings_count,
            electronics_shops_credits_spent,
            addon_pinning_listings_count,
            addon_pinning_credits_spent,
            addon_extended_listings_count,
            addon_extended_credits_spent,
            addon_promoted_listings_count,
            addon_promoted_credits_spent,
            addon_pinning_shuffle_listings_count,
            addon_pinning_shuffle_credits_spent,
            addon_premium_listings_count,
            addon_premium_credits_spent,
            addon_power_pin_listings_count,
            addon_power_pin_credits_spent,
            addon_refresh_listings_count,
            addon_refresh_credits_spent,
            addon_vip_listings_count,
            addon_vip_credits_spent,
            offer_50_days_used,
            offer_baraka_days_used,
            offer_total_days_used,
            offer_50_percentage,
            offer_baraka_percentage,
            offer_total_percentage,
        } = self.clone();
        let (phone, phone_masked) = shown_phone(phone, read_pii);
        let account = pb::UserAccount {
            user_id: user_id as i64,
            user_type,
            phone,
            is_block,
            user_account_creation_date: instant(user_account_creation_date, tz),
            active_months_last_6,
            active_weeks_last_12,
        };
        let wallet = pb::UserWallet {
            current_credits_in_wallet,
            total_credits_spent,
            total_premium_credits_spent,
            total_free_credits_spent,
            first_transaction_date: instant(first_transaction_date, tz),
            last_transaction_date: instant(last_transaction_date, tz),
            days_since_last_paid_transaction,
            days_since_last_transaction,
        };
        let listings = pb::UserListings {
            paid_listings_count,
            free_listings_count,
            total_listings_count,
            office_listings_count,
            first_paid_listing_date: instant(first_paid_listing_date, tz),
            last_paid_listing_date: instant(last_paid_listing_date, tz),
            days_since_last_paid_listing,
            verticals_listed_in: slugs(&verticals_listed_in),
            levels_1_listed_in: slugs(&levels_1_listed_in),
            favorite_vertical,
            favorite_level_1,
            number_of_verticals_listed_in,
            number_of_level1_categories_listed_in,
            is_multivertical_user,
        };
        let plans = pb::UserPlanSpend {
            plans_or_bundles_used: slugs(&plans_or_bundles_used),
            favorite_plan_or_bundle,
            basic_listings_count,
            basic_credits_spent,
            pro_listings_count,
            pro_credits_spent,
            extra_listings_count,
            extra_credits_spent,
            plus_listings_count,
            plus_credits_spent,
            super_listings_count,
            super_credits_spent,
            standard_listings_count,
            standard_credits_spent,
            premium_listings_count,
            premium_credits_spent,
            optimum_listings_count,
            optimum_credits_spent,
            car_offices_listings_count,
            car_offices_credits_spent,
            property_offices_listings_count,
            property_offices_credits_spent,
            electronics_shops_listings_count,
            electronics_shops_credits_spent,
        };
        let addons = pb::UserAddons {
            extra_addons_count,
            extra_addons_total_credits,
            extra_addons_premium_credits,
            extra_addons_free_credits,
            favorite_extra_addon,
            top_extra_addons: slugs(&top_extra_addons),
            addon_pinning_listings_count,
            addon_pinning_credits_spent,
            addon_extended_listings_count,
            addon_extended_credits_spent,
            addon_promoted_listings_count,
            addon_promoted_credits_spent,
            addon_pinning_shuffle_listings_count,
            addon_pinning_shuffle_credits_spent,
            addon_premium_listings_count,
            addon_premium_credits_spent,
            addon_power_pin_listings_count,
            addon_power_pin_credits_spent,
            addon_refresh_listings_count,
            addon_refresh_credits_spent,
            addon_vip_listings_count,
            addon_vip_credits_spent,
        };
        let offers = pb::UserOffers {
            offer_50_days_used,
            offer_baraka_days_used,
            offer_total_days_used,
            offer_50_percentage,
            offer_baraka_percentage,
            offer_total_percentage,
        };
        (account, wallet, listings, plans, addons, offers, phone_masked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_to_their_last_four_digits() {
        assert_eq!(shown_phone(Some(96_550_123_456), false), (Some("*******3456".to_string()), true));
        assert_eq!(shown_phone(Some(96_550_123_456), true), (Some("96550123456".to_string()), false));
        assert_eq!(shown_phone(Some(1234), false), (Some("****".to_string()), true));
        assert_eq!(shown_phone(None, false), (None, true));
    }
}
