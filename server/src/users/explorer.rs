//! ListUsers: search (user id, or phone digits for `users.read_pii`), a condition filter from
//! the shared engine, sorting by any sortable catalogue field, and keyset pages.
//!
//! Paging walks (sort key, user_id) in two phases so each phase is one index range: first
//! the users whose key is set (`(key, user_id) > (last key, last id)`, an index on
//! `(key, user_id)` read forward or backward), then those whose key is null (nulls sort last),
//! by user_id. The page token carries the phase, the last key and id, and the total counted on
//! the first page, so later pages skip the count; it also carries a fingerprint of the request,
//! so a token cannot be replayed against another search, filter or order.

use super::{UserError, account_status_to_proto, lifecycle_to_proto, profile};
use crate::{
    conditions::{self, BindValue, Catalogue, CompileOptions, CompiledFilter, Field, Join, Sql, Storage},
    convert::page_size,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use cdp_proto::cdp::v1 as pb;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Double, Integer, Nullable, Text, Timestamp},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A ListUsers request, as the domain sees it.
pub struct ListUsers {
    pub search: String,
    pub filter: Option<pb::ConditionGroup>,
    pub order_by: String,
    pub page_size: i32,
    pub page_token: String,
    /// The caller holds `users.read_pii` (phone search, phone conditions, unmasked phones).
    pub read_pii: bool,
    pub today: NaiveDate,
    pub tz: chrono_tz::Tz,
}

pub struct UserPage {
    pub users: Vec<pb::UserSummary>,
    pub next_page_token: String,
    pub total_size: i64,
}

/// The requested order: a sortable catalogue field and a direction.
pub struct Sort {
    pub field: &'static Field,
    pub descending: bool,
}

/// Parses `order_by` (`field`, `field asc` or `field desc`; default `user_id asc`).
pub fn parse_order_by(order_by: &str) -> Result<Sort, UserError> {
    let catalogue = Catalogue::standard();
    let mut words = order_by.split_whitespace();
    let name = words.next().unwrap_or("user_id");
    let descending = match words.next().map(|w| w.to_ascii_lowercase()) {
        None => false,
        Some(w) if w == "asc" => false,
        Some(w) if w == "desc" => true,
        Some(_) => return Err(UserError::invalid("order_by", "must be a field name optionally followed by asc or desc")),
    };
    if words.next().is_some() {
        return Err(UserError::invalid("order_by", "must be a field name optionally followed by asc or desc"));
    }
    match catalogue.get(name) {
        Some(field) if field.sortable => Ok(Sort { field, descending }),
        Some(_) => Err(UserError::invalid("order_by", format!("{name} is not sortable; ListUserFields marks the sortable fields"))),
        None => {
            let shown: String = name.chars().take(64).collect();
            Err(UserError::invalid("order_by", format!("unknown field {shown:?}; ListUserFields lists the fields")))
        }
    }
}

/// Whether the field's expression can be null (its users are paged after the others).
fn nullable(field: &Field) -> bool {
    use conditions::Storage::*;
    field.name != "user_id" && !matches!(field.storage, Enum | TextArray | Bool)
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct PageToken {
    /// Fingerprint of the request the token belongs to.
    f: String,
    /// In the null-key phase.
    n: bool,
    /// The last key (as text), in the key phase.
    k: Option<String>,
    /// The last user id.
    id: i64,
    /// The total counted on the first page.
    t: i64,
}

fn encode_token(token: &PageToken) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(token).expect("a page token serialises"))
}

fn decode_token(text: &str, fingerprint: &str) -> Result<Option<PageToken>, UserError> {
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = || UserError::invalid("page_token", "is not a token this server issued");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.f != fingerprint {
        return Err(UserError::invalid("page_token", "belongs to a request with another search, filter or order_by"));
    }
    Ok(Some(token))
}

/// Identifies what a token pages through: same search digits, filter, order and PII access.
fn fingerprint(digits: &str, filter: &Option<pb::ConditionGroup>, sort: &Sort, read_pii: bool) -> String {
    let mut hasher = Sha256::new();
    hasher.update(digits.as_bytes());
    hasher.update([0, read_pii as u8, sort.descending as u8]);
    hasher.update(sort.field.name.as_bytes());
    hasher.update([0]);
    if let Some(filter) = filter {
        hasher.update(filter.encode_to_vec());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// The search predicate: the user id, or (with `users.read_pii`, 4+ digits) a phone containing
/// the digits. Both resolve to an id array first, so the page walks the primary key.
fn search_predicate(digits: &str, read_pii: bool) -> Option<Sql> {
    if digits.is_empty() {
        return None;
    }
    let id = digits.parse::<i32>().ok();
    let phone = read_pii && digits.len() >= 4;
    let mut sql = Sql::default();
    match (id, phone) {
        (Some(id), false) => {
            sql.push("u.user_id = ").push_bind(BindValue::Int8(id as i64));
        }
        (id, true) => {
            // A security-definer function (it checks users.read_pii itself) so the phone
            // trigram index is usable under RLS; see migration 000004.
            // The array is built inside the sub-select: an array operator applied outside it
            // is not leakproof, and RLS would then keep the primary key out of the plan.
            sql.push("u.user_id = ANY (ARRAY(SELECT cdp.user_ids_with_phone_digits(").push_bind(BindValue::Text(digits.to_string())).push(")");
            if let Some(id) = id {
                sql.push(" UNION SELECT ").push_bind(BindValue::Int8(id as i64)).push("::int4");
            }
            sql.push("))");
        }
        (None, false) => {
            sql.push("FALSE");
        }
    }
    Some(sql)
}

#[derive(QueryableByName)]
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
    #[diesel(sql_type = Nullable<Text>)]
    sort_key: Option<String>,
}

impl SummaryRow {
    fn into_proto(self, read_pii: bool, tz: chrono_tz::Tz) -> pb::UserSummary {
        let (phone, phone_masked) = profile::shown_phone(self.phone, read_pii);
        pb::UserSummary {
            user_id: self.user_id as i64,
            user_type: self.user_type,
            phone,
            phone_masked,
            is_block: self.is_block,
            user_account_creation_date: profile::instant(self.user_account_creation_date, tz),
            last_transaction_date: profile::instant(self.last_transaction_date, tz),
            current_credits_in_wallet: self.current_credits_in_wallet,
            total_credits_spent: self.total_credits_spent,
            total_listings_count: self.total_listings_count,
            paid_listings_count: self.paid_listings_count,
            favorite_vertical: self.favorite_vertical,
            days_since_last_transaction: self.days_since_last_transaction,
            lifecycle_stage: lifecycle_to_proto(Some(&self.lifecycle_stage)) as i32,
            account_status: account_status_to_proto(&self.account_status) as i32,
            tags: self.tags,
        }
    }
}

/// The columns of a `UserSummary`, selected over `u`, `a` and `s`.
pub fn summary_columns() -> String {
    let catalogue = Catalogue::standard();
    let expr = |name: &str| catalogue.get(name).map(|f| f.expr.clone()).expect("the catalogue has the CDP fields");
    format!(
        "u.user_id, u.user_type, u.phone, u.is_block, u.user_account_creation_date, u.last_transaction_date, \
         u.current_credits_in_wallet, u.total_credits_spent, u.total_listings_count, u.paid_listings_count, \
         u.favorite_vertical, u.days_since_last_transaction, {} AS lifecycle_stage, {} AS account_status, {} AS tags",
        expr("lifecycle_stage"),
        expr("account_status"),
        expr("tags")
    )
}

/// `search AND filter` (either may be absent).
fn base_where(search: &Option<Sql>, filter: &CompiledFilter) -> Sql {
    let mut sql = Sql::new(" WHERE ");
    if let Some(search) = search {
        sql.push("(").append(search).push(") AND ");
    }
    sql.push_filter(filter);
    sql
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs a ListUsers request on `conn` (a transaction as the caller, so RLS applies).
pub async fn list_users(conn: &mut AsyncPgConnection, request: ListUsers) -> Result<UserPage, UserError> {
    let limit = page_size(request.page_size).map_err(|_| UserError::invalid("page_size", "must not be negative"))?;
    let sort = parse_order_by(&request.order_by)?;
    let digits: String = request.search.chars().filter(char::is_ascii_digit).collect();
    let filter = match &request.filter {
        Some(group) => {
            let options = CompileOptions { path: "filter".into(), today: request.today, tz: request.tz, allow_pii: request.read_pii };
            let filter = conditions::compile(Catalogue::standard(), group, &options)?;
            conditions::check_references(conn, &filter).await?;
            filter
        }
        None => CompiledFilter::everyone(),
    };
    let fingerprint = fingerprint(&digits, &request.filter, &sort, request.read_pii);
    let token = decode_token(&request.page_token, &fingerprint)?;
    let search = search_predicate(&digits, request.read_pii);

    // The total: counted once, on the first page, with only the joins the filter needs.
    let total = match &token {
        Some(token) => token.t,
        None => {
            let mut sql = Sql::new("SELECT count(*) AS n FROM public.users u");
            sql.push_joins(&filter).append(&base_where(&search, &filter));
            sql.into_query().get_result::<Counted>(conn).await?.n
        }
    };

    // A page reads a few hundred rows along an index: parallel workers take longer to start
    // (5-10 ms) than the whole walk (1-2 ms). The count above may use them.
    sql_query("SET LOCAL max_parallel_workers_per_gather = 0").execute(&mut *conn).await?;

    let page_filter = filter.with_join(Join::Attributes).with_join(Join::Stats);
    let page_filter = sort.field.joins.iter().fold(page_filter, |f, j| f.with_join(*j));
    let e = sort.field.expr.as_str();
    let (cmp, dir) = if sort.descending { ("<", " DESC") } else { (">", "") };
    let select = || {
        let mut sql = Sql::new(&format!("SELECT {}, ({e})::text AS sort_key FROM public.users u", summary_columns()));
        sql.push_joins(&page_filter).append(&base_where(&search, &page_filter));
        sql
    };

    let mut rows: Vec<SummaryRow> = Vec::new();
    let in_null_phase = token.as_ref().is_some_and(|t| t.n);
    if !in_null_phase {
        let mut sql = select();
        if nullable(sort.field) {
            sql.push(&format!(" AND ({e}) IS NOT NULL"));
        }
        if let Some(token) = &token {
            if sort.field.name == "user_id" {
                sql.push(&format!(" AND u.user_id {cmp} ")).push_bind(BindValue::Int8(token.id));
            } else {
                let key = token.k.clone().ok_or_else(|| UserError::invalid("page_token", "is not a token this server issued"))?;
                sql.push(&format!(" AND (({e}), u.user_id) {cmp} (")).push_bind(typed_sort_key(sort.field.storage, key)?).push(", ");
                sql.push_bind(BindValue::Int8(token.id)).push(")");
            }
        }
        sql.push(&format!(" ORDER BY ({e}){dir}, u.user_id{dir} LIMIT ")).push_bind(BindValue::Int8(limit + 1));
        rows = sql.into_query().load(conn).await?;
    }
    if nullable(sort.field) && (rows.len() as i64) <= limit {
        // Users without a value for the sort key come last, by user id.
        let mut sql = select();
        sql.push(&format!(" AND ({e}) IS NULL"));
        if let Some(token) = token.as_ref().filter(|t| t.n) {
            sql.push(&format!(" AND u.user_id {cmp} ")).push_bind(BindValue::Int8(token.id));
        }
        sql.push(&format!(" ORDER BY u.user_id{dir} LIMIT ")).push_bind(BindValue::Int8(limit + 1 - rows.len() as i64));
        let nulls: Vec<SummaryRow> = sql.into_query().load(conn).await?;
        rows.extend(nulls);
    }

    let mut next_page_token = String::new();
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let last = rows.last().expect("a full page has a last row");
        next_page_token = encode_token(&PageToken { f: fingerprint, n: last.sort_key.is_none(), k: last.sort_key.clone(), id: last.user_id as i64, t: total });
    }
    Ok(UserPage { users: rows.into_iter().map(|r| r.into_proto(request.read_pii, request.tz)).collect(), next_page_token, total_size: total })
}

/// A page token's sort key (the expression's `::text`) bound with the expression's own type:
/// a typed constant lets the planner estimate the keyset condition and walk the
/// `(sort key, user_id)` index, where `CAST($n AS type)` of a text bind is planned blind (a
/// later page then sorted every tie of the key: 30 ms instead of 0.3 ms on a million users).
fn typed_sort_key(storage: Storage, key: String) -> Result<BindValue, UserError> {
    let bad = || UserError::invalid("page_token", "is not a token this server issued");
    Ok(match storage {
        Storage::Integer | Storage::IntFlag => BindValue::Int8(key.parse().map_err(|_| bad())?),
        Storage::Double => BindValue::Float8(key.parse().map_err(|_| bad())?),
        Storage::Timestamp => BindValue::Timestamp(NaiveDateTime::parse_from_str(&key, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| bad())?),
        Storage::Date => BindValue::Date(NaiveDate::parse_from_str(&key, "%Y-%m-%d").map_err(|_| bad())?),
        Storage::Bool => BindValue::Bool(match key.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(bad()),
        }),
        Storage::Text | Storage::Enum | Storage::CommaList | Storage::TextArray | Storage::CohortMembership | Storage::AmplitudeMembership => {
            BindValue::Text(key)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_accepts_sortable_fields_and_directions() {
        assert!(!parse_order_by("").unwrap().descending);
        assert_eq!(parse_order_by("").unwrap().field.name, "user_id");
        let sort = parse_order_by("total_credits_spent DESC").unwrap();
        assert!(sort.descending && sort.field.name == "total_credits_spent");
        assert!(parse_order_by("total_credits_spent sideways").is_err());
        assert!(parse_order_by("verticals_listed_in").is_err(), "lists are not sortable");
        assert!(parse_order_by("user_id; DROP TABLE users").is_err());
        assert!(parse_order_by("user_id desc, phone").is_err());
    }

    #[test]
    fn page_tokens_only_fit_their_request() {
        let token = PageToken { f: "abc".into(), n: false, k: Some("2026-01-01 00:00:00".into()), id: 5, t: 9 };
        let text = encode_token(&token);
        assert_eq!(decode_token(&text, "abc").unwrap(), Some(token));
        assert!(decode_token(&text, "other").is_err());
        assert!(decode_token("garbage", "abc").is_err());
    }
}
