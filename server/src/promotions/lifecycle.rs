//! The lifecycle of a promotion: create (DRAFT), update as far as the status allows, activate
//! (→ SCHEDULED or ACTIVE), deactivate (→ PAUSED), delete (drafts) or archive (the others).
//! Each change, its audit row and the job that carries it to Redis commit together: the worker
//! (or a redemption finding Redis stale) publishes from what PostgreSQL says.

use super::{
    PromotionError,
    model::{Audience, PromotionRow, Status},
    schema::{promotions as p, redemptions as r},
    spec::{LIMIT_PATHS, OUTPUT_ONLY, PromotionSpec, WRITABLE},
    store,
};
use crate::{
    activation::{audience, events::EventKind, jobs},
    audit::{self, Change},
    auth::principal::RequestContext,
};
use cdp_proto::cdp::v1 as pb;
use chrono::Utc;
use diesel::{prelude::*, result::DatabaseErrorKind};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

fn audit_change<'a>(action: &'a str, id: i64, before: Option<&PromotionRow>, after: Option<&PromotionRow>) -> Change<'a> {
    Change {
        action,
        resource_type: "promotion",
        resource_id: id.to_string(),
        before: before.map(PromotionRow::audit_view),
        after: after.map(PromotionRow::audit_view),
    }
}

/// A unique violation on the shared code index is a code taken by a concurrent request.
fn code_taken(code: Option<&str>) -> impl Fn(diesel::result::Error) -> PromotionError + '_ {
    move |err| match &err {
        diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) if info.constraint_name() == Some("promotions_code_idx") => {
            PromotionError::CodeTaken(code.unwrap_or_default().to_string())
        }
        _ => err.into(),
    }
}

pub async fn create(conn: &mut AsyncPgConnection, ctx: &RequestContext, mut spec: PromotionSpec) -> Result<PromotionRow, PromotionError> {
    spec.validate()?;
    store::ensure_cohort(conn, spec.cohort_id).await?;
    if let Some(code) = &spec.code {
        store::ensure_code_free(conn, code, None).await?;
    }
    let created_by = ctx.principal.as_ref().and_then(|p| p.platform_user_id());
    let row: PromotionRow = diesel::insert_into(p::table)
        .values((
            p::name.eq(&spec.name),
            p::description.eq(&spec.description),
            p::cohort_id.eq(spec.cohort_id),
            p::benefit_type.eq(spec.benefit_type.as_str()),
            p::value.eq(spec.value),
            p::addon.eq(&spec.addon),
            p::code_mode.eq(spec.code_mode.as_str()),
            p::code.eq(&spec.code),
            p::total_cap.eq(spec.total_cap),
            p::per_user_cap.eq(spec.per_user_cap),
            p::credit_budget.eq(spec.credit_budget),
            p::starts_at.eq(spec.starts_at),
            p::ends_at.eq(spec.ends_at),
            p::ttl_secs.eq(spec.ttl_secs),
            p::audience.eq(spec.audience.as_str()),
            p::created_by.eq(created_by),
        ))
        .returning(PromotionRow::as_returning())
        .get_result(conn)
        .await
        .map_err(code_taken(spec.code.as_deref()))?;
    audit::record(conn, ctx, audit_change("promotion.create", row.id, None, Some(&row))).await?;
    Ok(row)
}

/// The mask paths a status allows.
fn editable(status: Status, path: &str) -> bool {
    match status {
        Status::Draft => true,
        Status::Scheduled | Status::Active | Status::Paused => matches!(path, "name" | "description" | "ends_at" | "limits") || LIMIT_PATHS.contains(&path),
        Status::Expired | Status::Archived => matches!(path, "name" | "description"),
    }
}

pub async fn update(conn: &mut AsyncPgConnection, ctx: &RequestContext, input: &pb::Promotion, paths: &[String]) -> Result<PromotionRow, PromotionError> {
    if paths.is_empty() {
        return Err(PromotionError::invalid("update_mask", "name the fields to change, e.g. name, limits, ends_at"));
    }
    for path in paths {
        if OUTPUT_ONLY.contains(&path.as_str()) {
            return Err(PromotionError::invalid("update_mask", format!("{path} is output only")));
        }
        if !WRITABLE.contains(&path.as_str()) && !LIMIT_PATHS.contains(&path.as_str()) {
            return Err(PromotionError::invalid("update_mask", format!("{path:?} is not a field of a promotion")));
        }
    }
    let before = store::find_for_update(conn, input.id).await?;
    let status = before.status();
    if let Some(path) = paths.iter().find(|path| !editable(status, path)) {
        return Err(PromotionError::Precondition(
            "PROMOTION_NOT_EDITABLE",
            format!(
                "the {path} of a {} promotion cannot change; a draft can change everything, a running one its name, description, end and limits",
                status.as_str()
            ),
        ));
    }
    let mut spec = PromotionSpec::of(&before);
    for path in paths {
        spec.apply(path, input)?;
    }
    spec.validate()?;
    let running = status.is_running();
    if status == Status::Draft {
        if spec.cohort_id != before.cohort_id {
            store::ensure_cohort(conn, spec.cohort_id).await?;
        }
        if let Some(code) = spec.code.as_deref().filter(|c| Some(*c) != before.code.as_deref()) {
            store::ensure_code_free(conn, code, Some(before.id)).await?;
        }
    }
    if running {
        ensure_limits_cover_use(conn, &before, &spec).await?;
        if let Some(ends) = spec.ends_at.filter(|e| Some(*e) != before.ends_at)
            && ends <= Utc::now()
        {
            return Err(PromotionError::invalid("promotion.ends_at", "must be in the future for a running promotion"));
        }
        if spec.ends_at.is_none() && before.ends_at.is_some() {
            return Err(PromotionError::invalid("promotion.ends_at", "a running promotion's end can move, not be removed"));
        }
    }
    let publish = running
        && (spec.ends_at != before.ends_at
            || spec.total_cap != before.total_cap
            || spec.per_user_cap != before.per_user_cap
            || spec.credit_budget != before.credit_budget);
    let row: PromotionRow = diesel::update(p::table.find(before.id))
        .set((
            p::name.eq(&spec.name),
            p::description.eq(&spec.description),
            p::cohort_id.eq(spec.cohort_id),
            p::benefit_type.eq(spec.benefit_type.as_str()),
            p::value.eq(spec.value),
            p::addon.eq(&spec.addon),
            p::code_mode.eq(spec.code_mode.as_str()),
            p::code.eq(&spec.code),
            p::total_cap.eq(spec.total_cap),
            p::per_user_cap.eq(spec.per_user_cap),
            p::credit_budget.eq(spec.credit_budget),
            p::starts_at.eq(spec.starts_at),
            p::ends_at.eq(spec.ends_at),
            p::ttl_secs.eq(spec.ttl_secs),
            p::audience.eq(spec.audience.as_str()),
            p::updated_at.eq(Utc::now()),
            // A new generation fences out reservations taken under the old limits.
            p::redis_generation.eq(before.redis_generation + i64::from(publish)),
        ))
        .returning(PromotionRow::as_returning())
        .get_result(conn)
        .await
        .map_err(|err| match &err {
            diesel::result::Error::DatabaseError(DatabaseErrorKind::CheckViolation, _) => {
                PromotionError::invalid("promotion.limits", "must not be below what is already used (redemptions committed meanwhile)")
            }
            _ => code_taken(spec.code.as_deref())(err),
        })?;
    audit::record(conn, ctx, audit_change("promotion.update", row.id, Some(&before), Some(&row))).await?;
    if publish {
        jobs::enqueue_publish(conn, row.id, EventKind::Updated).await?;
        if let Some(ends) = row.ends_at.filter(|e| Some(*e) != before.ends_at) {
            jobs::enqueue_expire(conn, row.id, ends).await?;
        }
    }
    Ok(row)
}

/// Limits of a running promotion cannot go below what is already used.
async fn ensure_limits_cover_use(conn: &mut AsyncPgConnection, before: &PromotionRow, spec: &PromotionSpec) -> Result<(), PromotionError> {
    if spec.total_cap > 0 && spec.total_cap < before.redeemed_count {
        return Err(PromotionError::invalid(
            "promotion.limits.total_redemptions",
            format!("must be at least the {} redemptions already made (or 0 for no cap)", before.redeemed_count),
        ));
    }
    if spec.credit_budget > 0 && spec.credit_budget < before.credits_granted {
        return Err(PromotionError::invalid(
            "promotion.limits.credit_budget",
            format!("must be at least the {} credits already granted (or 0 for no budget)", before.credits_granted),
        ));
    }
    if spec.per_user_cap < before.per_user_cap {
        let most: Option<i64> = r::table
            .filter(r::promotion_id.eq(before.id))
            .filter(r::status.eq("redeemed"))
            .group_by(r::user_id)
            .select(diesel::dsl::count_star())
            .load::<i64>(conn)
            .await?
            .into_iter()
            .max();
        if let Some(most) = most.filter(|m| *m > i64::from(spec.per_user_cap)) {
            return Err(PromotionError::invalid("promotion.limits.per_user", format!("must be at least {most}, the most one user has already redeemed")));
        }
    }
    Ok(())
}

/// DRAFT or PAUSED → SCHEDULED (start in the future) or ACTIVE. The audience is frozen and
/// published by the worker (`promotion.activate` / `promotion.start`).
pub async fn activate(conn: &mut AsyncPgConnection, ctx: &RequestContext, id: i64) -> Result<PromotionRow, PromotionError> {
    let before = store::find_for_update(conn, id).await?;
    let status = before.status();
    if !matches!(status, Status::Draft | Status::Paused) {
        return Err(PromotionError::Precondition(
            "INVALID_STATUS",
            format!("a {} promotion cannot be activated; only drafts and paused promotions can", status.as_str()),
        ));
    }
    if before.audience_frozen_at.is_none() {
        store::ensure_cohort(conn, before.cohort_id).await?;
    }
    let now = Utc::now();
    let start = before.starts_at.filter(|s| *s > now);
    let ends_at = before.ends_at.or_else(|| before.ttl_secs.map(|ttl| start.unwrap_or(now) + chrono::Duration::seconds(ttl)));
    if ends_at.is_some_and(|e| e <= now) {
        return Err(PromotionError::Precondition("WINDOW_ENDED", "the promotion's window has ended; move ends_at to the future first".into()));
    }
    let next = if start.is_some() { Status::Scheduled } else { Status::Active };
    // Until the audience is frozen, the audience size is what the cohort holds now.
    let audience_size = match (before.audience_frozen_at, before.audience()) {
        (Some(_), Audience::Frozen) => before.audience_size,
        _ => audience::cohort_size(conn, before.cohort_id).await?,
    };
    let row: PromotionRow = diesel::update(p::table.find(id))
        .set((
            p::status.eq(next.as_str()),
            p::status_reason.eq(""),
            p::ends_at.eq(ends_at),
            p::audience_size.eq(audience_size),
            p::activated_at.eq(now),
            p::updated_at.eq(now),
            p::redis_generation.eq(before.redis_generation + 1),
        ))
        .returning(PromotionRow::as_returning())
        .get_result(conn)
        .await?;
    audit::record(conn, ctx, audit_change("promotion.activate", id, Some(&before), Some(&row))).await?;
    match start {
        Some(start) => {
            jobs::enqueue_publish(conn, id, EventKind::Scheduled).await?;
            jobs::enqueue_start(conn, id, start).await?;
        }
        None => jobs::enqueue_activate(conn, id).await?,
    }
    if let Some(ends) = ends_at {
        jobs::enqueue_expire(conn, id, ends).await?;
    }
    Ok(row)
}

/// SCHEDULED or ACTIVE → PAUSED. Redemptions stop at once: the ledger writer commits only
/// for an active promotion, and the new generation fences out reservations in flight.
pub async fn deactivate(conn: &mut AsyncPgConnection, ctx: &RequestContext, id: i64, reason: &str) -> Result<PromotionRow, PromotionError> {
    let reason = reason.trim();
    if reason.chars().count() > 500 {
        return Err(PromotionError::invalid("reason", "must be at most 500 characters"));
    }
    let before = store::find_for_update(conn, id).await?;
    let status = before.status();
    if !matches!(status, Status::Scheduled | Status::Active) {
        return Err(PromotionError::Precondition(
            "INVALID_STATUS",
            format!("a {} promotion cannot be deactivated; only scheduled and active promotions can", status.as_str()),
        ));
    }
    let row: PromotionRow = diesel::update(p::table.find(id))
        .set((
            p::status.eq(Status::Paused.as_str()),
            p::status_reason.eq(if reason.is_empty() { "paused" } else { reason }),
            p::updated_at.eq(Utc::now()),
            p::redis_generation.eq(before.redis_generation + 1),
        ))
        .returning(PromotionRow::as_returning())
        .get_result(conn)
        .await?;
    audit::record(conn, ctx, audit_change("promotion.deactivate", id, Some(&before), Some(&row))).await?;
    jobs::enqueue_publish(conn, id, EventKind::Deactivated).await?;
    Ok(row)
}

/// Deletes a draft for good (`None`); archives any other promotion, stopping it first if it
/// runs, and returns it. Archiving an archived promotion changes nothing.
pub async fn delete(conn: &mut AsyncPgConnection, ctx: &RequestContext, id: i64) -> Result<Option<PromotionRow>, PromotionError> {
    let before = store::find_for_update(conn, id).await?;
    match before.status() {
        Status::Draft => {
            diesel::delete(p::table.find(id)).execute(conn).await?;
            audit::record(conn, ctx, audit_change("promotion.delete", id, Some(&before), None)).await?;
            Ok(None)
        }
        Status::Archived => Ok(Some(before)),
        status => {
            let now = Utc::now();
            let row: PromotionRow = diesel::update(p::table.find(id))
                .set((
                    p::status.eq(Status::Archived.as_str()),
                    p::status_reason.eq("archived"),
                    p::ended_at.eq(before.ended_at.unwrap_or(now)),
                    p::updated_at.eq(now),
                    p::redis_generation.eq(before.redis_generation + 1),
                ))
                .returning(PromotionRow::as_returning())
                .get_result(conn)
                .await?;
            audit::record(conn, ctx, audit_change("promotion.archive", id, Some(&before), Some(&row))).await?;
            if status.is_running() {
                jobs::enqueue_publish(conn, id, EventKind::Deactivated).await?;
            }
            Ok(Some(row))
        }
    }
}
