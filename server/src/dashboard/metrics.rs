//! GetMetrics: KPIs and series of the requested metrics over a range and its previous range
//! of equal length, the signup funnel and CLTV, all computed from the rollups.

use super::{
    DashboardError,
    definitions::{self, ALL_METRICS, FUNNEL_STEPS, MetricSettings},
    range::{self, DayRange, iso},
    store::{self, DayRow, RollupState},
};
use crate::convert::opt_timestamp;
use cdp_proto::cdp::v1::{self as pb, DashboardMetric as M, TimeBucket};
use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;
use std::collections::HashMap;

/// A validated GetMetrics request.
#[derive(Clone, Debug)]
pub struct MetricsQuery {
    pub range: DayRange,
    pub bucket: TimeBucket,
    /// In request order, without repeats.
    pub metrics: Vec<M>,
}

impl MetricsQuery {
    pub fn from_request(request: &pb::GetMetricsRequest, today: NaiveDate) -> Result<Self, DashboardError> {
        let pb::GetMetricsRequest { preset, start_date, end_date, bucket, metrics } = request;
        let range = range::resolve(*preset, start_date, end_date, today)?;
        let bucket = range::bucket_for(*bucket, &range)?;
        let mut chosen = Vec::new();
        for (i, raw) in metrics.iter().enumerate() {
            let metric = M::try_from(*raw)
                .ok()
                .filter(|m| *m != M::Unspecified)
                .ok_or_else(|| DashboardError::invalid(format!("metrics[{i}]"), "is not a dashboard metric"))?;
            if !chosen.contains(&metric) {
                chosen.push(metric);
            }
        }
        if chosen.is_empty() {
            chosen = ALL_METRICS.to_vec();
        }
        Ok(MetricsQuery { range, bucket, metrics: chosen })
    }
}

/// The rollup figures of a span of days, with the distinct-user counts looked up for it.
struct Figures<'a> {
    days: &'a HashMap<NaiveDate, DayRow>,
    distinct: &'a HashMap<DayRange, i64>,
    cltv: &'a pb::Cltv,
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 { 0.0 } else { numerator / denominator }
}

impl Figures<'_> {
    fn sum(&self, range: &DayRange, field: impl Fn(&DayRow) -> i64) -> f64 {
        range.iter().filter_map(|d| self.days.get(&d)).map(&field).sum::<i64>() as f64
    }

    fn average(&self, range: &DayRange, field: impl Fn(&DayRow) -> i64) -> f64 {
        self.sum(range, field) / range.days() as f64
    }

    fn active(&self, range: &DayRange) -> f64 {
        self.distinct.get(range).copied().unwrap_or_default() as f64
    }

    /// The value of `metric` over `range` (a bucket or a whole range).
    fn value(&self, metric: M, range: &DayRange) -> f64 {
        match metric {
            M::Unspecified => 0.0,
            M::Dau => self.average(range, |d| d.dau),
            M::Wau => self.average(range, |d| d.wau),
            M::Mau => self.average(range, |d| d.mau),
            M::ActiveUsers => self.active(range),
            M::NewUsers => self.sum(range, |d| d.signups),
            M::ChurnedUsers => self.sum(range, |d| d.churned),
            M::ReactivatedUsers => self.sum(range, |d| d.reactivated),
            M::AboutToChurnUsers => self.days.get(&range.end).map_or(0.0, |d| d.about_to_churn as f64),
            M::StickinessDauMau => ratio(self.sum(range, |d| d.dau), self.sum(range, |d| d.mau)),
            M::StickinessWauMau => ratio(self.sum(range, |d| d.wau), self.sum(range, |d| d.mau)),
            M::AvgSessionDuration => ratio(self.sum(range, |d| d.session_seconds), self.sum(range, |d| d.sessions)),
            M::ActiveUserGrowthRate => {
                let before = self.active(&range.previous());
                ratio(self.active(range) - before, before)
            }
            M::KeyEventCompletionRate => ratio(self.sum(range, |d| d.with_transaction), self.sum(range, |d| d.signups)),
            M::AverageCltv => self.cltv.average_ltv,
            M::Events => self.sum(range, |d| d.events),
            M::CreditsSpent => self.sum(range, |d| d.credits_spent),
        }
    }
}

/// The ranges whose distinct active users `metrics` need.
fn distinct_lookups(metrics: &[M], ranges: &[DayRange]) -> Vec<DayRange> {
    let mut out = Vec::new();
    if metrics.contains(&M::ActiveUsers) || metrics.contains(&M::ActiveUserGrowthRate) {
        out.extend_from_slice(ranges);
    }
    if metrics.contains(&M::ActiveUserGrowthRate) {
        out.extend(ranges.iter().map(|r| r.previous()));
    }
    out.sort_by_key(|r| (r.end, r.start));
    out.dedup();
    out
}

fn cltv(segments: &[store::SegmentRow]) -> pb::Cltv {
    let users: i64 = segments.iter().map(|s| s.spenders).sum();
    let credits: i64 = segments.iter().map(|s| s.lifetime_credits).sum();
    let mut breakdown: Vec<pb::CltvSegment> = segments
        .iter()
        .filter(|s| s.spenders > 0)
        .map(|s| pb::CltvSegment {
            user_type: s.user_type.clone(),
            vertical: s.vertical.clone(),
            users: s.spenders,
            average_ltv: ratio(s.lifetime_credits as f64, s.spenders as f64),
        })
        .collect();
    breakdown.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.user_type.cmp(&b.user_type)).then_with(|| a.vertical.cmp(&b.vertical)));
    pb::Cltv { average_ltv: ratio(credits as f64, users as f64), users, segments: breakdown, description: definitions::CLTV_DESCRIPTION.into() }
}

fn funnel(figures: &Figures, range: &DayRange, previous: &DayRange) -> Vec<pb::FunnelStep> {
    let step = |r: &DayRange, i: usize| -> i64 {
        let field = |d: &DayRow| match i {
            0 => d.signups,
            1 => d.with_listing,
            2 => d.with_paid_listing,
            _ => d.with_transaction,
        };
        figures.sum(r, field) as i64
    };
    let start = step(range, 0);
    let mut before = start;
    FUNNEL_STEPS
        .iter()
        .enumerate()
        .map(|(i, (name, description))| {
            let users = step(range, i);
            let out = pb::FunnelStep {
                name: name.to_string(),
                users,
                conversion_from_previous: if i == 0 { 1.0 } else { ratio(users as f64, before as f64) },
                conversion_from_start: if i == 0 { 1.0 } else { ratio(users as f64, start as f64) },
                previous_users: step(previous, i),
                description: description.to_string(),
            };
            before = users;
            out
        })
        .collect()
}

/// Computes the response of GetMetrics for `query` from the rollups.
pub async fn get_metrics(conn: &mut AsyncPgConnection, query: &MetricsQuery, settings: &MetricSettings) -> Result<pb::GetMetricsResponse, DashboardError> {
    let MetricsQuery { range, bucket, metrics } = query;
    let previous = range.previous();
    let buckets = range::buckets(range, *bucket);
    let previous_buckets: Vec<DayRange> = buckets.iter().map(|b| b.shifted_back(range.days())).collect();

    let state = store::state(conn).await?.unwrap_or(RollupState {
        first_day: None,
        through_day: None,
        churn_window_days: settings.churn_window_days,
        updated_at: None,
    });
    let settings = MetricSettings { churn_window_days: state.churn_window_days };
    let has_previous = state.has_data_for(&previous);
    let days = store::days(conn, DayRange::new(previous.start, range.end)).await?;

    let mut spans = vec![*range, previous];
    spans.extend_from_slice(&buckets);
    spans.extend_from_slice(&previous_buckets);
    let lookups = distinct_lookups(metrics, &spans);
    let counts = store::distinct_active(conn, &lookups).await?;
    let distinct: HashMap<DayRange, i64> = lookups.into_iter().zip(counts).collect();
    let cltv = if metrics.contains(&M::AverageCltv) { cltv(&store::segments(conn).await?) } else { pb::Cltv::default() };
    let figures = Figures { days: &days, distinct: &distinct, cltv: &cltv };

    let mut kpis = Vec::new();
    let mut series = Vec::new();
    for metric in metrics.iter().copied() {
        let label = definitions::label(metric).to_string();
        let description = definitions::description(metric, &settings);
        let unit = definitions::unit(metric) as i32;
        let value = figures.value(metric, range);
        // CLTV is a lifetime figure: no previous period, no series.
        let previous_value = (metric != M::AverageCltv && has_previous).then(|| figures.value(metric, &previous));
        let change_ratio = previous_value.filter(|p| *p != 0.0).map(|p| (value - p) / p);
        kpis.push(pb::Kpi { metric: metric as i32, label: label.clone(), value, previous_value, change_ratio, description: description.clone(), unit });
        if metric != M::AverageCltv {
            let points = |spans: &[DayRange]| -> Vec<pb::MetricPoint> {
                spans.iter().map(|b| pb::MetricPoint { bucket_start: iso(b.start), value: figures.value(metric, b) }).collect()
            };
            series.push(pb::MetricSeries {
                metric: metric as i32,
                label,
                points: points(&buckets),
                previous_points: if has_previous { points(&previous_buckets) } else { Vec::new() },
                description,
                unit,
            });
        }
    }
    let funnel = if metrics.contains(&M::KeyEventCompletionRate) { funnel(&figures, range, &previous) } else { Vec::new() };
    Ok(pb::GetMetricsResponse {
        range: Some(range.to_proto()),
        previous_range: Some(previous.to_proto()),
        bucket: *bucket as i32,
        kpis,
        series,
        funnel,
        cltv: metrics.contains(&M::AverageCltv).then_some(cltv),
        data_updated_at: opt_timestamp(state.updated_at),
    })
}
