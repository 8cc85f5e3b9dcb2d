//! Diesel declarations of the promotion tables (migration 000008). The redemption ledger's
//! hot path uses hand-written SQL (`redemption::ledger`); these serve the typed queries.

diesel::table! {
    cdp.promotions (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        cohort_id -> Int8,
        benefit_type -> Text,
        value -> Float8,
        addon -> Text,
        code_mode -> Text,
        code -> Nullable<Text>,
        total_cap -> Int8,
        per_user_cap -> Int4,
        credit_budget -> Int8,
        starts_at -> Nullable<Timestamptz>,
        ends_at -> Nullable<Timestamptz>,
        ttl_secs -> Nullable<Int8>,
        audience -> Text,
        status -> Text,
        status_reason -> Text,
        audience_size -> Int8,
        redeemed_count -> Int8,
        credits_granted -> Int8,
        redis_generation -> Int8,
        audience_frozen_at -> Nullable<Timestamptz>,
        audience_synced_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        activated_at -> Nullable<Timestamptz>,
        ended_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    cdp.promotion_audience (promotion_id, user_id) {
        promotion_id -> Int8,
        user_id -> Int4,
        code -> Nullable<Text>,
        added_at -> Timestamptz,
        removed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    cdp.redemptions (id) {
        id -> Int8,
        promotion_id -> Int8,
        user_id -> Int4,
        code -> Text,
        service_credential_id -> Uuid,
        idempotency_key -> Text,
        order_reference -> Text,
        order_credits -> Nullable<Int8>,
        credits -> Int8,
        status -> Text,
        redeemed_at -> Timestamptz,
        reverted_at -> Nullable<Timestamptz>,
        revert_reason -> Text,
    }
}

diesel::table! {
    cdp.cohorts (id) {
        id -> Int8,
        name -> Text,
        deleted_at -> Nullable<Timestamptz>,
        last_refreshed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    /// CDP-owned user attributes (migration 000004): a suspended user redeems nothing.
    cdp.user_attributes (user_id) {
        user_id -> Int4,
        account_status -> Text,
    }
}

diesel::joinable!(promotions -> cohorts (cohort_id));
diesel::allow_tables_to_appear_in_same_query!(promotions, cohorts, promotion_audience, redemptions);
