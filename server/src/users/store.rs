//! GetUser, UpdateUser and ListUserFields: the profile's reads, the CDP-owned attributes
//! (validated, upserted, audited with before/after) and the catalogue with known values.

use super::{UserError, account_status_from_proto, account_status_to_proto, lifecycle_from_proto, lifecycle_to_proto, profile::UserRow, stats};
use crate::{
    audit::{
        self, Change,
        service::{ENTRY_COLUMNS, entry_to_proto},
    },
    auth::principal::RequestContext,
    conditions::Catalogue,
    convert::{opt_timestamp, timestamp},
    schema::audit_log,
};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, Days, NaiveDate, Utc};
use diesel::{
    ExpressionMethods, QueryDsl, QueryableByName, sql_query,
    sql_types::{Array, BigInt, Date, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;

/// Days of activity a profile shows.
const ACTIVITY_DAYS: u64 = 90;
/// Audit entries a profile shows.
const AUDIT_ENTRIES: i64 = 20;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 40;
/// The contract's limit (users.proto `CdpAttributes.notes`).
const MAX_NOTES_CHARS: usize = 4000;

/// The CDP-owned attributes of a user (defaults when no row exists).
#[derive(QueryableByName, Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attributes {
    #[diesel(sql_type = Integer)]
    pub user_id: i32,
    #[diesel(sql_type = Text)]
    pub account_status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub lifecycle_stage_override: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    pub tags: Vec<String>,
    #[diesel(sql_type = Text)]
    pub notes: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    #[serde(skip)]
    pub updated_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    #[serde(skip)]
    pub updated_by: Option<uuid::Uuid>,
}

impl Attributes {
    fn defaults(user_id: i32) -> Self {
        Attributes {
            user_id,
            account_status: "active".into(),
            lifecycle_stage_override: None,
            tags: Vec::new(),
            notes: String::new(),
            updated_at: None,
            updated_by: None,
        }
    }

    pub fn to_proto(&self) -> pb::CdpAttributes {
        pb::CdpAttributes {
            user_id: self.user_id as i64,
            account_status: account_status_to_proto(&self.account_status) as i32,
            lifecycle_stage_override: lifecycle_to_proto(self.lifecycle_stage_override.as_deref()) as i32,
            tags: self.tags.clone(),
            notes: self.notes.clone(),
            updated_at: opt_timestamp(self.updated_at),
            updated_by: self.updated_by.map(|id| id.to_string()).unwrap_or_default(),
        }
    }
}

/// Converts an API user id to the column's type, or NOT_FOUND (no user has a larger id).
pub fn user_id(id: i64) -> Result<i32, UserError> {
    if id <= 0 {
        return Err(UserError::invalid("user_id", "must be a positive user id"));
    }
    i32::try_from(id).map_err(|_| UserError::NotFound(format!("no user with id {id}")))
}

/// Every column of one user (through RLS), or NOT_FOUND.
pub async fn find_user(conn: &mut AsyncPgConnection, id: i32) -> Result<UserRow, UserError> {
    let rows: Vec<UserRow> = sql_query("SELECT * FROM public.users WHERE user_id = $1").bind::<Integer, _>(id).load(conn).await?;
    rows.into_iter().next().ok_or_else(|| UserError::NotFound(format!("no user with id {id}")))
}

const ATTRIBUTE_COLUMNS: &str = "user_id, account_status, lifecycle_stage_override, tags, notes, updated_at, updated_by";

async fn attributes(conn: &mut AsyncPgConnection, id: i32, for_update: bool) -> Result<Attributes, UserError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let rows: Vec<Attributes> =
        sql_query(format!("SELECT {ATTRIBUTE_COLUMNS} FROM cdp.user_attributes WHERE user_id = $1{lock}")).bind::<Integer, _>(id).load(conn).await?;
    Ok(rows.into_iter().next().unwrap_or_else(|| Attributes::defaults(id)))
}

#[derive(QueryableByName)]
struct IdentityRow {
    #[diesel(sql_type = Nullable<Text>)]
    amplitude_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    braze_id: Option<String>,
}

#[derive(QueryableByName)]
struct ActivityRow {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Integer)]
    sessions: i32,
    #[diesel(sql_type = Integer)]
    session_seconds: i32,
    #[diesel(sql_type = Integer)]
    events: i32,
    #[diesel(sql_type = Integer)]
    listings_posted: i32,
    #[diesel(sql_type = Integer)]
    paid_listings: i32,
    #[diesel(sql_type = Integer)]
    transactions: i32,
    #[diesel(sql_type = Integer)]
    credits_spent: i32,
}

#[derive(QueryableByName)]
struct MembershipRow {
    #[diesel(sql_type = BigInt)]
    cohort_id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Timestamptz)]
    joined_at: DateTime<Utc>,
}

/// The full profile of a user as the caller may see it.
pub async fn get_profile(
    conn: &mut AsyncPgConnection,
    ctx: &RequestContext,
    id: i64,
    today: NaiveDate,
    tz: chrono_tz::Tz,
) -> Result<pb::UserProfile, UserError> {
    let principal = ctx.principal().map_err(|_| UserError::NotFound("sign in first".into()))?;
    let read_pii = principal.has("users.read_pii");
    let id = user_id(id)?;
    let row = find_user(conn, id).await?;
    let attrs = attributes(conn, id, false).await?;

    let identity: Option<IdentityRow> =
        sql_query("SELECT amplitude_id, braze_id FROM cdp.identities WHERE user_id = $1").bind::<Integer, _>(id).load(conn).await?.into_iter().next();

    // The last 90 days, oldest first, zeros on days without a row.
    let first_day = today.checked_sub_days(Days::new(ACTIVITY_DAYS - 1)).unwrap_or(today);
    let rows: Vec<ActivityRow> = sql_query(
        "SELECT day, sessions, session_seconds, events, listings_posted, paid_listings, transactions, credits_spent \
         FROM cdp.user_daily_activity WHERE user_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
    )
    .bind::<Integer, _>(id)
    .bind::<Date, _>(first_day)
    .bind::<Date, _>(today)
    .load(conn)
    .await?;
    let by_day: HashMap<NaiveDate, ActivityRow> = rows.into_iter().map(|r| (r.day, r)).collect();
    let activity = first_day
        .iter_days()
        .take(ACTIVITY_DAYS as usize)
        .map(|day| match by_day.get(&day) {
            Some(r) => pb::UserDailyActivity {
                date: day.to_string(),
                sessions: r.sessions,
                session_seconds: r.session_seconds as i64,
                events: r.events,
                listings_posted: r.listings_posted,
                paid_listings: r.paid_listings,
                transactions: r.transactions,
                credits_spent: r.credits_spent as i64,
            },
            None => pb::UserDailyActivity { date: day.to_string(), ..Default::default() },
        })
        .collect();

    let computed = stats::computed_lifecycle_stage(conn, id, today).await?;
    let effective = attrs.lifecycle_stage_override.clone().or_else(|| computed.clone());

    // The audit history of this user: only for auditors (users.proto).
    let recent_audit_entries = if principal.has("audit.read") {
        audit_log::table
            .filter(audit_log::resource_type.eq("user"))
            .filter(audit_log::resource_id.eq(id.to_string()))
            .order((audit_log::created_at.desc(), audit_log::id.desc()))
            .limit(AUDIT_ENTRIES)
            .select(ENTRY_COLUMNS)
            .load(conn)
            .await?
            .into_iter()
            .map(entry_to_proto)
            .collect()
    } else {
        Vec::new()
    };

    let memberships: Vec<MembershipRow> = sql_query(
        "SELECT cm.cohort_id, c.name, cm.joined_at FROM cdp.cohort_members cm JOIN cdp.cohorts c ON c.id = cm.cohort_id \
         WHERE cm.user_id = $1 AND c.deleted_at IS NULL ORDER BY lower(c.name), c.id",
    )
    .bind::<Integer, _>(id)
    .load(conn)
    .await?;

    let cltv = row.total_credits_spent.unwrap_or(0) as f64;
    let (account, wallet, listings, plans, addons, offers, phone_masked) = row.groups(read_pii, tz);
    Ok(pb::UserProfile {
        user_id: id as i64,
        account: Some(account),
        wallet: Some(wallet),
        listings: Some(listings),
        plans: Some(plans),
        addons: Some(addons),
        offers: Some(offers),
        cdp_attributes: Some(attrs.to_proto()),
        lifecycle_stage: lifecycle_to_proto(effective.as_deref()) as i32,
        computed_lifecycle_stage: lifecycle_to_proto(computed.as_deref()) as i32,
        cltv,
        identities: Some(pb::UserIdentities {
            amplitude_id: identity.as_ref().and_then(|i| i.amplitude_id.clone()).unwrap_or_default(),
            braze_id: identity.as_ref().and_then(|i| i.braze_id.clone()).unwrap_or_default(),
        }),
        activity,
        recent_audit_entries,
        cohort_memberships: memberships
            .into_iter()
            .map(|m| pb::UserCohortMembership { cohort_id: m.cohort_id, name: m.name, joined_at: Some(timestamp(m.joined_at)) })
            .collect(),
        // Filled by the promotions capability when it lands; never placeholders.
        promotions: Vec::new(),
        phone_masked,
    })
}

/// The paths UpdateUser may change.
const MUTABLE_PATHS: [&str; 4] = ["account_status", "lifecycle_stage_override", "tags", "notes"];

/// Tags: lowercase slugs (letters, digits, `-`, `_`), at most 20 of at most 40 characters;
/// input is trimmed and lowercased, duplicates are dropped.
fn validate_tags(tags: &[String]) -> Result<Vec<String>, UserError> {
    let mut out: Vec<String> = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let tag = tag.trim().to_lowercase();
        let valid = !tag.is_empty()
            && tag.chars().count() <= MAX_TAG_CHARS
            && tag.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid {
            return Err(UserError::invalid(
                format!("cdp_attributes.tags[{i}]"),
                format!("must be a slug of 1 to {MAX_TAG_CHARS} lowercase letters, digits, '-' or '_'"),
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(UserError::invalid("cdp_attributes.tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

/// Applies an UpdateUser request; returns the attributes after it and the effective stage.
pub async fn update_attributes(
    conn: &mut AsyncPgConnection,
    ctx: &RequestContext,
    request: pb::UpdateUserRequest,
    today: NaiveDate,
) -> Result<(Attributes, Option<String>), UserError> {
    let pb::UpdateUserRequest { cdp_attributes, update_mask } = request;
    let input = cdp_attributes.ok_or_else(|| UserError::invalid("cdp_attributes", "is required"))?;
    let pb::CdpAttributes { user_id: requested_id, account_status, lifecycle_stage_override, tags, notes, updated_at: _, updated_by: _ } = input;
    let paths = update_mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        return Err(UserError::invalid("update_mask", format!("name at least one of {}", MUTABLE_PATHS.join(", "))));
    }
    if let Some(bad) = paths.iter().find(|p| !MUTABLE_PATHS.contains(&p.as_str())) {
        let shown: String = bad.chars().take(64).collect();
        return Err(UserError::invalid("update_mask", format!("{shown:?} cannot be changed; only the CDP attributes {} can", MUTABLE_PATHS.join(", "))));
    }
    let id = user_id(requested_id).map_err(|err| match err {
        UserError::InvalidField { reason, .. } => UserError::invalid("cdp_attributes.user_id", reason),
        other => other,
    })?;

    // Validate every named field before touching the database.
    let mut wanted = Attributes::defaults(id);
    for path in &paths {
        match path.as_str() {
            "account_status" => {
                let status = pb::AccountStatus::try_from(account_status)
                    .map_err(|_| UserError::invalid("cdp_attributes.account_status", "must be ACTIVE, UNDER_REVIEW or SUSPENDED"))?;
                wanted.account_status = account_status_from_proto(status).to_string();
            }
            "lifecycle_stage_override" => {
                let stage = pb::LifecycleStage::try_from(lifecycle_stage_override)
                    .map_err(|_| UserError::invalid("cdp_attributes.lifecycle_stage_override", "must be a LifecycleStage (UNSPECIFIED clears the override)"))?;
                wanted.lifecycle_stage_override = lifecycle_from_proto(stage).map(str::to_string);
            }
            "tags" => wanted.tags = validate_tags(&tags)?,
            _ => {
                if notes.chars().count() > MAX_NOTES_CHARS {
                    return Err(UserError::invalid("cdp_attributes.notes", format!("must be at most {MAX_NOTES_CHARS} characters")));
                }
                wanted.notes = notes.clone();
            }
        }
    }

    find_user(conn, id).await?;
    let before = attributes(conn, id, true).await?;
    let mut after = before.clone();
    for path in &paths {
        match path.as_str() {
            "account_status" => after.account_status = wanted.account_status.clone(),
            "lifecycle_stage_override" => after.lifecycle_stage_override = wanted.lifecycle_stage_override.clone(),
            "tags" => after.tags = wanted.tags.clone(),
            _ => after.notes = wanted.notes.clone(),
        }
    }
    if after == before {
        // Nothing changes: no write, no audit row.
        let effective = match &before.lifecycle_stage_override {
            Some(stage) => Some(stage.clone()),
            None => stats::computed_lifecycle_stage(conn, id, today).await?,
        };
        return Ok((before, effective));
    }

    let principal = ctx.principal().map_err(|_| UserError::NotFound("sign in first".into()))?;
    let saved: Attributes = sql_query(format!(
        "INSERT INTO cdp.user_attributes AS a (user_id, account_status, lifecycle_stage_override, tags, notes, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, now(), $6) \
         ON CONFLICT (user_id) DO UPDATE SET account_status = excluded.account_status, \
           lifecycle_stage_override = excluded.lifecycle_stage_override, tags = excluded.tags, notes = excluded.notes, \
           updated_at = excluded.updated_at, updated_by = excluded.updated_by \
         RETURNING {ATTRIBUTE_COLUMNS}"
    ))
    .bind::<Integer, _>(id)
    .bind::<Text, _>(&after.account_status)
    .bind::<Nullable<Text>, _>(after.lifecycle_stage_override.as_deref())
    .bind::<Array<Text>, _>(&after.tags)
    .bind::<Text, _>(&after.notes)
    .bind::<Nullable<SqlUuid>, _>(principal.platform_user_id())
    .get_result(&mut *conn)
    .await?;
    audit::record(
        conn,
        ctx,
        Change {
            action: "user.update",
            resource_type: "user",
            resource_id: id.to_string(),
            before: Some(serde_json::to_value(&before).unwrap_or_default()),
            after: Some(serde_json::to_value(&saved).unwrap_or_default()),
        },
    )
    .await?;
    let effective = match &saved.lifecycle_stage_override {
        Some(stage) => Some(stage.clone()),
        None => stats::computed_lifecycle_stage(conn, id, today).await?,
    };
    Ok((saved, effective))
}

#[derive(QueryableByName)]
struct KnownValue {
    #[diesel(sql_type = Text)]
    field: String,
    #[diesel(sql_type = Text)]
    value: String,
}

/// The catalogue with the known values of text and list fields (from the stats refresh).
pub async fn list_fields(conn: &mut AsyncPgConnection) -> Result<Vec<pb::UserField>, UserError> {
    let known: Vec<KnownValue> = sql_query("SELECT field, value FROM cdp.user_field_values ORDER BY field, users DESC, value").load(conn).await?;
    let mut by_field: HashMap<String, Vec<String>> = HashMap::new();
    for k in known {
        by_field.entry(k.field).or_default().push(k.value);
    }
    Ok(Catalogue::standard().fields().iter().map(|f| f.to_proto(by_field.remove(f.name).unwrap_or_default())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_lowercase_slugs() {
        assert_eq!(validate_tags(&[" VIP ".into(), "vip".into(), "churn-risk_2".into()]).unwrap(), vec!["vip", "churn-risk_2"]);
        assert!(validate_tags(&["has space".into()]).is_err());
        assert!(validate_tags(&["a;b".into()]).is_err());
        assert!(validate_tags(&["x".repeat(41)]).is_err());
        assert!(validate_tags(&(0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()).is_err());
    }
}
