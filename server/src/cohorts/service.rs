//! CohortService: the tonic layer (proto in, proto out, one domain call per RPC) and the
//! domain functions of the cohort lifecycle. Every write runs as the caller (RLS) and is
//! audited in its transaction; evaluations are queued for the worker.

use super::{CohortError, guard, import, members, preview, store, sync};
use crate::{
    audit::{self, Change},
    auth::principal::{Principal, RequestContext, context},
    conditions::{self, Catalogue, CompileOptions},
    config::Config,
    convert::{offset_token, page_size, page_token, parse_offset_token, parse_page_token},
    db::{Db, Tx},
};
use cdp_proto::cdp::v1::{self as pb, cohort_service_server::CohortService};
use chrono::{Duration as Span, NaiveDate, Utc};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct CohortApi {
    pub db: Db,
    pub config: Arc<Config>,
    pub http: reqwest::Client,
    /// Sets of users computed by previews, reused by the next ones (see `preview_cache`).
    pub preview_cache: Arc<super::preview_cache::PreviewCache>,
}

/// Days of the size trend on every cohort, and the longest size history served (3 years).
const TREND_DAYS: i64 = 30;
const MAX_HISTORY_DAYS: i64 = 3 * 366;
const DEFAULT_HISTORY_DAYS: i64 = 90;

fn validate_name(field: &str, name: &str) -> Result<String, CohortError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CohortError::invalid(field, "is required"));
    }
    if name.chars().count() > 120 {
        return Err(CohortError::invalid(field, "must be at most 120 characters"));
    }
    Ok(name.to_string())
}

fn validate_description(field: &str, description: &str) -> Result<String, CohortError> {
    let description = description.trim();
    if description.chars().count() > 2000 {
        return Err(CohortError::invalid(field, "must be at most 2000 characters"));
    }
    Ok(description.to_string())
}

/// Unset: every 24 hours; at least 15 minutes, at most 30 days.
fn validate_interval(field: &str, interval: Option<prost_types::Duration>) -> Result<i32, CohortError> {
    let Some(interval) = interval else { return Ok(store::DEFAULT_REFRESH_SECS) };
    if interval.seconds < store::MIN_REFRESH_SECS {
        return Err(CohortError::invalid(field, "must be at least 15 minutes (900 s)"));
    }
    if interval.seconds > store::MAX_REFRESH_SECS {
        return Err(CohortError::invalid(field, "must be at most 30 days"));
    }
    Ok(interval.seconds as i32)
}

fn parse_kind(kind: i32) -> Result<&'static str, CohortError> {
    match pb::CohortKind::try_from(kind) {
        Ok(pb::CohortKind::Unspecified | pb::CohortKind::Dynamic) => Ok(store::DYNAMIC),
        Ok(pb::CohortKind::Static) => Ok(store::STATIC),
        Err(_) => Err(CohortError::invalid("cohort.kind", "must be COHORT_KIND_DYNAMIC or COHORT_KIND_STATIC")),
    }
}

fn parse_id(field: &str, id: i64) -> Result<i64, CohortError> {
    if id <= 0 {
        return Err(CohortError::invalid(field, "is required (a positive cohort id)"));
    }
    Ok(id)
}

fn parse_date(field: &str, value: &str) -> Result<NaiveDate, CohortError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| CohortError::invalid(field, "must be a date YYYY-MM-DD"))
}

fn principal(ctx: &RequestContext) -> Result<&Principal, CohortError> {
    ctx.principal.as_ref().ok_or_else(|| CohortError::Internal("a cohort RPC reached its handler without a principal".into()))
}

impl CohortApi {
    fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.config.reporting_tz).date_naive()
    }

    fn tz(&self) -> &'static str {
        self.config.reporting_tz.name()
    }

    async fn begin(&self, ctx: &RequestContext) -> Result<Tx, CohortError> {
        Ok(self.db.begin_as(&principal(ctx)?.claims).await?)
    }

    /// The cohort with its 30-day trend.
    async fn cohort_proto(&self, tx: &mut Tx, row: &store::CohortRow) -> Result<pb::Cohort, CohortError> {
        let today = self.today();
        let mut points = store::size_points(tx, &[row.id], today - Span::days(TREND_DAYS - 1), today, self.tz()).await?;
        row.to_proto(points.remove(&row.id).unwrap_or_default())
    }

    async fn list(&self, ctx: &RequestContext, req: pb::ListCohortsRequest) -> Result<pb::ListCohortsResponse, CohortError> {
        let pb::ListCohortsRequest { page_size: size, page_token, search, kind } = req;
        let limit = page_size(size).map_err(|_| CohortError::invalid("page_size", "must not be negative"))?;
        let offset = parse_offset_token(&page_token).map_err(|_| CohortError::invalid("page_token", "is not a token this server issued"))?;
        let kind = match pb::CohortKind::try_from(kind) {
            Ok(pb::CohortKind::Unspecified) => None,
            Ok(pb::CohortKind::Dynamic) => Some(store::DYNAMIC),
            Ok(pb::CohortKind::Static) => Some(store::STATIC),
            Err(_) => return Err(CohortError::invalid("kind", "is not a cohort kind")),
        };
        let mut tx = self.begin(ctx).await?;
        let (rows, total) = store::list(&mut tx, search.trim(), kind, offset, limit).await?;
        let today = self.today();
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut trends = store::size_points(&mut tx, &ids, today - Span::days(TREND_DAYS - 1), today, self.tz()).await?;
        tx.commit().await?;
        let cohorts = rows.iter().map(|r| r.to_proto(trends.remove(&r.id).unwrap_or_default())).collect::<Result<Vec<_>, _>>()?;
        let next = offset + rows.len() as i64;
        Ok(pb::ListCohortsResponse { cohorts, next_page_token: if next < total { offset_token(next) } else { String::new() }, total_size: total })
    }

    async fn create(&self, ctx: &RequestContext, req: pb::CreateCohortRequest) -> Result<pb::Cohort, CohortError> {
        let caller = principal(ctx)?;
        let cohort = req.cohort.ok_or_else(|| CohortError::invalid("cohort", "is required"))?;
        // Output-only fields are ignored (the contract says so); each is named to show it.
        let pb::Cohort {
            id: _,
            name,
            description,
            kind,
            definition,
            size: _,
            refresh_state: _,
            last_refreshed_at: _,
            next_refresh_at: _,
            last_refresh_duration_ms: _,
            last_error: _,
            refresh_interval,
            created_by: _,
            created_at: _,
            updated_at: _,
            size_trend: _,
            amplitude_import: _,
        } = cohort;
        let name = validate_name("cohort.name", &name)?;
        let description = validate_description("cohort.description", &description)?;
        let kind = parse_kind(kind)?;
        let interval = validate_interval("cohort.refresh_interval", refresh_interval)?;
        let definition = definition.ok_or_else(|| CohortError::invalid("cohort.definition", "is required"))?;
        let options = CompileOptions::now("cohort.definition", self.config.reporting_tz).allow_pii(caller.has("users.read_pii"));
        let filter = conditions::compile(Catalogue::standard(), &definition, &options)?;

        let mut tx = self.begin(ctx).await?;
        conditions::check_references(&mut tx, &filter).await?;
        if store::name_taken(&mut tx, &name, None).await? {
            return Err(CohortError::AlreadyExists(format!("a cohort named {name:?} already exists")));
        }
        let id = store::insert(
            &mut tx,
            store::NewCohort {
                name: &name,
                description: &description,
                kind,
                definition: super::definition::to_json(&definition),
                source: store::SOURCE_BUILDER,
                amplitude_cohort_id: None,
                refresh_interval_secs: interval,
                created_by: caller.platform_user_id(),
            },
        )
        .await?;
        store::enqueue_refresh(&mut tx, id).await?;
        let row = store::find(&mut tx, id, false).await?;
        audit::record(
            &mut tx,
            ctx,
            Change { action: "cohort.create", resource_type: "cohort", resource_id: id.to_string(), before: None, after: Some(row.audit_view()) },
        )
        .await?;
        let cohort = self.cohort_proto(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(cohort)
    }

    async fn get(&self, ctx: &RequestContext, id: i64) -> Result<pb::Cohort, CohortError> {
        let id = parse_id("id", id)?;
        let mut tx = self.begin(ctx).await?;
        let row = store::find(&mut tx, id, false).await?;
        let cohort = self.cohort_proto(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(cohort)
    }

    async fn update(&self, ctx: &RequestContext, req: pb::UpdateCohortRequest) -> Result<pb::Cohort, CohortError> {
        let caller = principal(ctx)?;
        let pb::UpdateCohortRequest { cohort, update_mask, confirm_audience_change } = req;
        let cohort = cohort.ok_or_else(|| CohortError::invalid("cohort", "is required"))?;
        let id = parse_id("cohort.id", cohort.id)?;
        let paths = update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(CohortError::invalid("update_mask", "name at least one of name, description, definition, refresh_interval"));
        }
        let mut tx = self.begin(ctx).await?;
        let before = store::find(&mut tx, id, true).await?;
        let mut settings = store::CohortSettings {
            name: before.name.clone(),
            description: before.description.clone(),
            definition: before.definition.clone(),
            refresh_interval_secs: before.refresh_interval_secs,
        };
        let mut definition_changed = false;
        for path in &paths {
            match path.as_str() {
                "name" => {
                    settings.name = validate_name("cohort.name", &cohort.name)?;
                    if store::name_taken(&mut tx, &settings.name, Some(id)).await? {
                        return Err(CohortError::AlreadyExists(format!("a cohort named {:?} already exists", settings.name)));
                    }
                }
                "description" => settings.description = validate_description("cohort.description", &cohort.description)?,
                "refresh_interval" => settings.refresh_interval_secs = validate_interval("cohort.refresh_interval", cohort.refresh_interval)?,
                "definition" => {
                    if before.is_imported() {
                        return Err(CohortError::precondition(
                            "COHORT_IMPORTED",
                            "an imported Amplitude cohort has no definition to change; import it again instead",
                        ));
                    }
                    let tree = cohort.definition.as_ref().ok_or_else(|| CohortError::invalid("cohort.definition", "is required when update_mask names it"))?;
                    let options = CompileOptions::now("cohort.definition", self.config.reporting_tz).allow_pii(caller.has("users.read_pii"));
                    let filter = conditions::compile(Catalogue::standard(), tree, &options)?;
                    conditions::check_references(&mut tx, &filter).await?;
                    guard::ensure_no_cycle(&mut tx, id, tree, "cohort.definition").await?;
                    settings.definition = super::definition::to_json(tree);
                    definition_changed = settings.definition != before.definition;
                }
                other => {
                    return Err(CohortError::invalid(
                        "update_mask",
                        format!("{other:?} cannot be changed; use name, description, definition or refresh_interval"),
                    ));
                }
            }
        }
        if definition_changed {
            let promotions = guard::promotions_using(&mut tx, id).await?;
            guard::require_confirmation(&promotions, confirm_audience_change, "changing the definition")?;
        }
        store::update_settings(&mut tx, id, &settings).await?;
        if definition_changed {
            store::enqueue_refresh(&mut tx, id).await?;
        }
        let after = store::find(&mut tx, id, false).await?;
        audit::record(
            &mut tx,
            ctx,
            Change {
                action: "cohort.update",
                resource_type: "cohort",
                resource_id: id.to_string(),
                before: Some(before.audit_view()),
                after: Some(after.audit_view()),
            },
        )
        .await?;
        let cohort = self.cohort_proto(&mut tx, &after).await?;
        tx.commit().await?;
        Ok(cohort)
    }

    async fn delete(&self, ctx: &RequestContext, req: pb::DeleteCohortRequest) -> Result<(), CohortError> {
        let pb::DeleteCohortRequest { id, confirm_audience_change } = req;
        let id = parse_id("id", id)?;
        let mut tx = self.begin(ctx).await?;
        let before = store::find(&mut tx, id, true).await?;
        guard::ensure_not_referenced(&mut tx, id).await?;
        let promotions = guard::promotions_using(&mut tx, id).await?;
        guard::require_confirmation(&promotions, confirm_audience_change, "deleting the cohort")?;
        store::soft_delete(&mut tx, id).await?;
        audit::record(
            &mut tx,
            ctx,
            Change { action: "cohort.delete", resource_type: "cohort", resource_id: id.to_string(), before: Some(before.audit_view()), after: None },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn refresh(&self, ctx: &RequestContext, id: i64) -> Result<pb::Cohort, CohortError> {
        let id = parse_id("id", id)?;
        let mut tx = self.begin(ctx).await?;
        let row = store::find(&mut tx, id, false).await?;
        if row.is_imported() {
            return Err(CohortError::precondition(
                "COHORT_IMPORTED",
                "an imported Amplitude cohort is refreshed by importing it again (ImportAmplitudeCohort)",
            ));
        }
        let queued = store::enqueue_refresh(&mut tx, id).await?;
        audit::record(
            &mut tx,
            ctx,
            Change {
                action: "cohort.refresh",
                resource_type: "cohort",
                resource_id: id.to_string(),
                before: None,
                after: Some(serde_json::json!({ "queued": queued })),
            },
        )
        .await?;
        let row = store::find(&mut tx, id, false).await?;
        let mut cohort = self.cohort_proto(&mut tx, &row).await?;
        tx.commit().await?;
        // A refresh is pending either way: queued now, or already queued (a retry) or running.
        let running = row.refresh_job.as_deref() == Some("running");
        cohort.refresh_state = if running { pb::CohortRefreshState::Running } else { pb::CohortRefreshState::Queued } as i32;
        Ok(cohort)
    }

    async fn members(&self, ctx: &RequestContext, req: pb::ListCohortMembersRequest) -> Result<pb::ListCohortMembersResponse, CohortError> {
        let pb::ListCohortMembersRequest { cohort_id, page_size: size, page_token } = req;
        let id = parse_id("cohort_id", cohort_id)?;
        let limit = page_size(size).map_err(|_| CohortError::invalid("page_size", "must not be negative"))?;
        let read_pii = principal(ctx)?.has("users.read_pii");
        let mut tx = self.begin(ctx).await?;
        store::find(&mut tx, id, false).await?;
        let page = members::page(&mut tx, id, &page_token, limit, read_pii, self.config.reporting_tz).await?;
        tx.commit().await?;
        Ok(page)
    }

    async fn size_history(&self, ctx: &RequestContext, req: pb::GetCohortSizeHistoryRequest) -> Result<pb::GetCohortSizeHistoryResponse, CohortError> {
        let pb::GetCohortSizeHistoryRequest { cohort_id, range } = req;
        let id = parse_id("cohort_id", cohort_id)?;
        let today = self.today();
        let (start, end) = match range {
            None => (today - Span::days(DEFAULT_HISTORY_DAYS - 1), today),
            Some(pb::DateRange { start_date, end_date }) => {
                let start = parse_date("range.start_date", &start_date)?;
                let end = parse_date("range.end_date", &end_date)?;
                if end < start {
                    return Err(CohortError::invalid("range.end_date", "must not be before range.start_date"));
                }
                if (end - start).num_days() >= MAX_HISTORY_DAYS {
                    return Err(CohortError::invalid("range", "covers at most 3 years"));
                }
                (start, end)
            }
        };
        let mut tx = self.begin(ctx).await?;
        store::find(&mut tx, id, false).await?;
        // Days after today have no size yet.
        let points = store::size_points(&mut tx, &[id], start, end.min(today), self.tz()).await?.remove(&id).unwrap_or_default();
        tx.commit().await?;
        let range = pb::DateRange { start_date: start.format("%Y-%m-%d").to_string(), end_date: end.format("%Y-%m-%d").to_string() };
        Ok(pb::GetCohortSizeHistoryResponse { range: Some(range), points })
    }

    async fn usage(&self, ctx: &RequestContext, cohort_id: i64) -> Result<pb::GetCohortUsageResponse, CohortError> {
        let id = parse_id("cohort_id", cohort_id)?;
        let mut tx = self.begin(ctx).await?;
        store::find(&mut tx, id, false).await?;
        let promotions = guard::promotions_using(&mut tx, id).await?;
        let syncs = store::latest_syncs(&mut tx, id).await?;
        let referring = store::referencing_cohorts(&mut tx, id).await?;
        tx.commit().await?;
        Ok(pb::GetCohortUsageResponse {
            promotions: promotions.iter().map(guard::promotion_usage_to_proto).collect(),
            latest_syncs: syncs.iter().map(store::SyncRunRow::to_proto).collect(),
            referencing_cohorts: referring.into_iter().map(|c| pb::CohortReference { cohort_id: c.id, name: c.name }).collect(),
        })
    }

    async fn sync(&self, ctx: &RequestContext, req: pb::SyncCohortRequest) -> Result<pb::CohortSync, CohortError> {
        let pb::SyncCohortRequest { id, target } = req;
        let id = parse_id("id", id)?;
        let target = pb::SyncTarget::try_from(target)
            .ok()
            .and_then(store::target_name)
            .ok_or_else(|| CohortError::invalid("target", "must be SYNC_TARGET_AMPLITUDE or SYNC_TARGET_BRAZE"))?;
        let caller = principal(ctx)?;
        let mut tx = self.begin(ctx).await?;
        store::find(&mut tx, id, false).await?;
        sync::ensure_configured(&self.config, target)?;
        let (run_id, queued) = sync::queue_run(&mut tx, id, target, caller.platform_user_id()).await?;
        if queued {
            audit::record(
                &mut tx,
                ctx,
                Change {
                    action: "cohort.sync",
                    resource_type: "cohort",
                    resource_id: id.to_string(),
                    before: None,
                    after: Some(serde_json::json!({ "target": target, "run_id": run_id })),
                },
            )
            .await?;
        }
        let run = store::sync_run(&mut tx, run_id).await?;
        tx.commit().await?;
        Ok(run.to_proto())
    }

    async fn syncs(&self, ctx: &RequestContext, req: pb::ListCohortSyncsRequest) -> Result<pb::ListCohortSyncsResponse, CohortError> {
        let pb::ListCohortSyncsRequest { page_size: size, page_token: token, cohort_id, target, status } = req;
        let limit = page_size(size).map_err(|_| CohortError::invalid("page_size", "must not be negative"))?;
        let before = parse_page_token(&token).map_err(|_| CohortError::invalid("page_token", "is not a token this server issued"))?;
        if cohort_id < 0 {
            return Err(CohortError::invalid("cohort_id", "must be a cohort id, or 0 for all"));
        }
        let target = match pb::SyncTarget::try_from(target) {
            Ok(t) => store::target_name(t),
            Err(_) => return Err(CohortError::invalid("target", "is not a sync target")),
        };
        let status = match pb::SyncStatus::try_from(status) {
            Ok(s) => store::sync_status_name(s),
            Err(_) => return Err(CohortError::invalid("status", "is not a sync status")),
        };
        let mut tx = self.begin(ctx).await?;
        let (rows, total) = store::sync_runs(&mut tx, (cohort_id > 0).then_some(cohort_id), target, status, before, limit).await?;
        tx.commit().await?;
        let more = rows.len() as i64 > limit;
        let rows: Vec<store::SyncRunRow> = rows.into_iter().take(limit as usize).collect();
        let next_page_token = if more { rows.last().map(|r| page_token(r.id)).unwrap_or_default() } else { String::new() };
        Ok(pb::ListCohortSyncsResponse { syncs: rows.iter().map(store::SyncRunRow::to_proto).collect(), next_page_token, total_size: total })
    }
}

#[tonic::async_trait]
impl CohortService for CohortApi {
    async fn list_cohorts(&self, request: Request<pb::ListCohortsRequest>) -> Result<Response<pb::ListCohortsResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.list(&ctx, request.into_inner()).await?))
    }

    async fn create_cohort(&self, request: Request<pb::CreateCohortRequest>) -> Result<Response<pb::CreateCohortResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(pb::CreateCohortResponse { cohort: Some(self.create(&ctx, request.into_inner()).await?) }))
    }

    async fn get_cohort(&self, request: Request<pb::GetCohortRequest>) -> Result<Response<pb::GetCohortResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(pb::GetCohortResponse { cohort: Some(self.get(&ctx, request.get_ref().id).await?) }))
    }

    async fn update_cohort(&self, request: Request<pb::UpdateCohortRequest>) -> Result<Response<pb::UpdateCohortResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(pb::UpdateCohortResponse { cohort: Some(self.update(&ctx, request.into_inner()).await?) }))
    }

    async fn delete_cohort(&self, request: Request<pb::DeleteCohortRequest>) -> Result<Response<pb::DeleteCohortResponse>, Status> {
        let ctx = context(&request)?;
        self.delete(&ctx, request.into_inner()).await?;
        Ok(Response::new(pb::DeleteCohortResponse {}))
    }

    async fn preview_cohort(&self, request: Request<pb::PreviewCohortRequest>) -> Result<Response<pb::PreviewCohortResponse>, Status> {
        let ctx = context(&request)?;
        let caller = principal(&ctx)?;
        Ok(Response::new(preview::preview(&self.db, &self.config, &self.preview_cache, caller, request.into_inner()).await?))
    }

    async fn refresh_cohort(&self, request: Request<pb::RefreshCohortRequest>) -> Result<Response<pb::RefreshCohortResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(pb::RefreshCohortResponse { cohort: Some(self.refresh(&ctx, request.get_ref().id).await?) }))
    }

    async fn list_cohort_members(&self, request: Request<pb::ListCohortMembersRequest>) -> Result<Response<pb::ListCohortMembersResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.members(&ctx, request.into_inner()).await?))
    }

    async fn get_cohort_size_history(&self, request: Request<pb::GetCohortSizeHistoryRequest>) -> Result<Response<pb::GetCohortSizeHistoryResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.size_history(&ctx, request.into_inner()).await?))
    }

    async fn get_cohort_usage(&self, request: Request<pb::GetCohortUsageRequest>) -> Result<Response<pb::GetCohortUsageResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.usage(&ctx, request.get_ref().cohort_id).await?))
    }

    async fn sync_cohort(&self, request: Request<pb::SyncCohortRequest>) -> Result<Response<pb::SyncCohortResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(pb::SyncCohortResponse { sync: Some(self.sync(&ctx, request.into_inner()).await?) }))
    }

    async fn list_cohort_syncs(&self, request: Request<pb::ListCohortSyncsRequest>) -> Result<Response<pb::ListCohortSyncsResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.syncs(&ctx, request.into_inner()).await?))
    }

    async fn list_amplitude_cohorts(&self, request: Request<pb::ListAmplitudeCohortsRequest>) -> Result<Response<pb::ListAmplitudeCohortsResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(import::list_amplitude_cohorts(&self.db, &self.config, &self.http, &ctx, &request.get_ref().search).await?))
    }

    async fn import_amplitude_cohort(&self, request: Request<pb::ImportAmplitudeCohortRequest>) -> Result<Response<pb::ImportAmplitudeCohortResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(import::import_amplitude_cohort(&self.db, &self.config, &self.http, &ctx, request.into_inner()).await?))
    }
}
