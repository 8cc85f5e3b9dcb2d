//! Users as cohort pages show them: the `UserSummary` of preview samples and member lists
//! (phone masked without `users.read_pii`), and the member list itself (ListCohortMembers).

use super::CohortError;
use crate::convert::timestamp;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Double, Integer, Nullable, Text, Timestamp, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;

/// The summary columns of a user, over `public.users u` with the CDP attributes (`a`) and
/// stats (`s`) joined; the stage and status use the catalogue's own expressions.
const SUMMARY_COLUMNS: &str = "u.user_id, u.user_type, u.phone, u.is_block, u.user_account_creation_date, u.last_transaction_date, \
     u.current_credits_in_wallet, u.total_credits_spent, u.total_listings_count, u.paid_listings_count, u.favorite_vertical, \
     u.days_since_last_transaction, coalesce(a.lifecycle_stage_override, s.lifecycle_stage, 'dormant') AS lifecycle_stage, \
     coalesce(a.account_status, 'active') AS account_status, coalesce(a.tags, '{}'::text[]) AS tags";
const SUMMARY_JOINS: &str = " LEFT JOIN cdp.user_attributes a ON a.user_id = u.user_id LEFT JOIN cdp.user_stats s ON s.user_id = u.user_id";

#[derive(QueryableByName, Debug, Clone)]
struct SummaryRow {
    #[diesel(sql_type = Integer)]
    user_id: i32,
    #[diesel(sql_type = Nullable<Text>)]
    user_type: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    phone: Option<i64>,
    #[diesel(sql_type = Nullable<Integer>)]
    is_block: Option<i32>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    user_account_creation_date: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_transaction_date: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Double>)]
    current_credits_in_wallet: Option<f64>,
    #[diesel(sql_type = Nullable<Integer>)]
    total_credits_spent: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    total_listings_count: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    paid_listings_count: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    favorite_vertical: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    days_since_last_transaction: Option<i32>,
    #[diesel(sql_type = Text)]
    lifecycle_stage: String,
    #[diesel(sql_type = Text)]
    account_status: String,
    #[diesel(sql_type = Array<Text>)]
    tags: Vec<String>,
}

/// The phone as a caller may see it: digits, or all but the last 4 masked.
fn shown_phone(phone: Option<i64>, read_pii: bool) -> (Option<String>, bool) {
    match phone {
        None => (None, !read_pii),
        Some(p) if read_pii => (Some(p.to_string()), false),
        Some(p) => {
            let digits = p.to_string();
            let keep = if digits.len() > 4 { 4 } else { 0 };
            (Some(format!("{}{}", "*".repeat(digits.len() - keep), &digits[digits.len() - keep..])), true)
        }
    }
}

/// A reporting-zone wall time (how the ETL columns are stored) as an instant.
fn instant(at: Option<NaiveDateTime>, tz: chrono_tz::Tz) -> Option<prost_types::Timestamp> {
    let at = at?;
    let utc = tz.from_local_datetime(&at).earliest().or_else(|| tz.from_local_datetime(&(at + chrono::Duration::hours(1))).earliest())?;
    Some(timestamp(utc.with_timezone(&Utc)))
}

impl SummaryRow {
    fn to_proto(&self, read_pii: bool, tz: chrono_tz::Tz) -> pb::UserSummary {
        let (phone, phone_masked) = shown_phone(self.phone, read_pii);
        let stage =
            pb::LifecycleStage::from_str_name(&format!("LIFECYCLE_STAGE_{}", self.lifecycle_stage.to_uppercase())).unwrap_or(pb::LifecycleStage::Unspecified);
        let status = pb::AccountStatus::from_str_name(&format!("ACCOUNT_STATUS_{}", self.account_status.to_uppercase())).unwrap_or(pb::AccountStatus::Active);
        pb::UserSummary {
            user_id: self.user_id as i64,
            user_type: self.user_type.clone(),
            phone,
            phone_masked,
            is_block: self.is_block,
            user_account_creation_date: instant(self.user_account_creation_date, tz),
            last_transaction_date: instant(self.last_transaction_date, tz),
            current_credits_in_wallet: self.current_credits_in_wallet,
            total_credits_spent: self.total_credits_spent,
            total_listings_count: self.total_listings_count,
            paid_listings_count: self.paid_listings_count,
            favorite_vertical: self.favorite_vertical.clone(),
            days_since_last_transaction: self.days_since_last_transaction,
            lifecycle_stage: stage as i32,
            account_status: status as i32,
            tags: self.tags.clone(),
        }
    }
}

/// Summaries of `ids`, in the order given (ids with no user row are left out).
pub async fn summaries(conn: &mut AsyncPgConnection, ids: &[i64], read_pii: bool, tz: chrono_tz::Tz) -> Result<Vec<pb::UserSummary>, CohortError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids32: Vec<i32> = ids.iter().filter_map(|id| i32::try_from(*id).ok()).collect();
    let rows: Vec<SummaryRow> = sql_query(format!("SELECT {SUMMARY_COLUMNS} FROM public.users u{SUMMARY_JOINS} WHERE u.user_id = ANY($1)"))
        .bind::<Array<Integer>, _>(&ids32)
        .load(conn)
        .await?;
    let by_id: HashMap<i64, SummaryRow> = rows.into_iter().map(|r| (r.user_id as i64, r)).collect();
    Ok(ids.iter().filter_map(|id| by_id.get(id)).map(|r| r.to_proto(read_pii, tz)).collect())
}

#[derive(QueryableByName)]
struct MemberRow {
    #[diesel(sql_type = Integer)]
    user_id: i32,
    #[diesel(sql_type = Timestamptz)]
    joined_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Keyset position in a member list (most recently joined first): (joined_at µs, user_id).
fn member_token(joined_at: DateTime<Utc>, user_id: i32) -> String {
    URL_SAFE_NO_PAD.encode(format!("m:{}:{user_id}", joined_at.timestamp_micros()))
}

fn parse_member_token(token: &str) -> Result<Option<(DateTime<Utc>, i32)>, CohortError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || CohortError::invalid("page_token", "is not a token this server issued");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = text.strip_prefix("m:").ok_or_else(invalid)?.split(':');
    let micros: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
    let user_id: i32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(invalid)?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    Ok(Some((at, user_id)))
}

/// A page of a cohort's current members, most recently joined first, with their summaries.
pub async fn page(
    conn: &mut AsyncPgConnection,
    cohort_id: i64,
    token: &str,
    limit: i64,
    read_pii: bool,
    tz: chrono_tz::Tz,
) -> Result<pb::ListCohortMembersResponse, CohortError> {
    let after = parse_member_token(token)?;
    let rows: Vec<MemberRow> = sql_query(
        "SELECT m.user_id, m.joined_at FROM cdp.cohort_members m WHERE m.cohort_id = $1 \
           AND ($2::timestamptz IS NULL OR (m.joined_at, m.user_id) < ($2, $3)) \
         ORDER BY m.joined_at DESC, m.user_id DESC LIMIT $4",
    )
    .bind::<BigInt, _>(cohort_id)
    .bind::<Nullable<Timestamptz>, _>(after.map(|a| a.0))
    .bind::<Integer, _>(after.map(|a| a.1).unwrap_or_default())
    .bind::<BigInt, _>(limit + 1)
    .load(conn)
    .await?;
    let total = sql_query("SELECT count(*) AS n FROM cdp.cohort_members WHERE cohort_id = $1").bind::<BigInt, _>(cohort_id).get_result::<Total>(conn).await?.n;
    let more = rows.len() as i64 > limit;
    let rows: Vec<MemberRow> = rows.into_iter().take(limit as usize).collect();
    let next_page_token = if more { rows.last().map(|r| member_token(r.joined_at, r.user_id)).unwrap_or_default() } else { String::new() };
    let ids: Vec<i64> = rows.iter().map(|r| r.user_id as i64).collect();
    let mut users: HashMap<i64, pb::UserSummary> = summaries(conn, &ids, read_pii, tz).await?.into_iter().map(|u| (u.user_id, u)).collect();
    let members = rows
        .iter()
        .map(|r| pb::CohortMember { user_id: r.user_id as i64, joined_at: Some(timestamp(r.joined_at)), user: users.remove(&(r.user_id as i64)) })
        .collect();
    Ok(pb::ListCohortMembersResponse { members, next_page_token, total_size: total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked_to_their_last_four_digits() {
        assert_eq!(shown_phone(Some(201012345678), false), (Some("********5678".into()), true));
        assert_eq!(shown_phone(Some(201012345678), true), (Some("201012345678".into()), false));
    }

    #[test]
    fn member_tokens_round_trip_and_reject_forgeries() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        assert_eq!(parse_member_token(&member_token(at, 42)).unwrap(), Some((at, 42)));
        assert!(parse_member_token("bogus").is_err());
    }
}
