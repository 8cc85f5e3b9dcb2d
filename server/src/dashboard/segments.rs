//! GetUserSegments: the top user_type × favorite_vertical segments and saved cohorts by
//! activity or value in a range, each with the condition tree that selects its users.

use super::{
    DashboardError, definitions,
    range::{self, DayRange},
    store::{self, GroupActivity, RollupState},
};
use cdp_proto::cdp::v1::{self as pb, MetricUnit, SegmentMeasure, SegmentSource};
use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 50;
/// How a segment shows a value it does not have.
pub const NOT_SET: &str = "(not set)";

#[derive(Clone, Debug)]
pub struct SegmentsQuery {
    pub measure: SegmentMeasure,
    pub range: DayRange,
    pub limit: usize,
}

impl SegmentsQuery {
    pub fn from_request(request: &pb::GetUserSegmentsRequest, today: NaiveDate) -> Result<Self, DashboardError> {
        let pb::GetUserSegmentsRequest { measure, preset, start_date, end_date, limit } = request;
        let measure = match SegmentMeasure::try_from(*measure) {
            Ok(SegmentMeasure::Unspecified) => SegmentMeasure::Activity,
            Ok(m) => m,
            Err(_) => return Err(DashboardError::invalid("measure", "is not a segment measure")),
        };
        let range = range::resolve(*preset, start_date, end_date, today)?;
        let limit = match *limit {
            n if n < 0 => return Err(DashboardError::invalid("limit", "must not be negative")),
            0 => DEFAULT_LIMIT,
            n => (n as usize).min(MAX_LIMIT),
        };
        Ok(SegmentsQuery { measure, range, limit })
    }
}

fn text_condition(field: &str, value: &str) -> pb::ConditionNode {
    use pb::{Operator, condition_node::Node, value::Kind};
    let condition = if value.is_empty() {
        pb::Condition { field: field.into(), operator: Operator::IsNotSet as i32, value: None, value_to: None }
    } else {
        pb::Condition {
            field: field.into(),
            operator: Operator::Equals as i32,
            value: Some(pb::Value { kind: Some(Kind::Text(value.into())) }),
            value_to: None,
        }
    };
    pb::ConditionNode { node: Some(Node::Condition(condition)) }
}

/// `user_type = t AND favorite_vertical = v` (IS_NOT_SET for an empty value).
pub fn attribute_condition(user_type: &str, vertical: &str) -> pb::ConditionGroup {
    pb::ConditionGroup {
        combinator: pb::Combinator::And as i32,
        nodes: vec![text_condition("user_type", user_type), text_condition("favorite_vertical", vertical)],
    }
}

/// Membership in the saved cohort `id`.
pub fn cohort_condition(id: i64) -> pb::ConditionGroup {
    use pb::{Operator, condition_node::Node, value::Kind};
    let condition = pb::Condition {
        field: "cohort".into(),
        operator: Operator::InCohort as i32,
        value: Some(pb::Value { kind: Some(Kind::CohortId(id)) }),
        value_to: None,
    };
    pb::ConditionGroup { combinator: pb::Combinator::And as i32, nodes: vec![pb::ConditionNode { node: Some(Node::Condition(condition)) }] }
}

fn display(value: &str) -> &str {
    if value.is_empty() { NOT_SET } else { value }
}

pub async fn get_user_segments(conn: &mut AsyncPgConnection, query: &SegmentsQuery) -> Result<pb::GetUserSegmentsResponse, DashboardError> {
    let SegmentsQuery { measure, range, limit } = query;
    let by_value = *measure == SegmentMeasure::Value;
    let previous = range.previous();
    let state = store::state(conn).await?;
    let has_previous = state.as_ref().is_some_and(|s: &RollupState| s.has_data_for(&previous));
    let measured = |a: Option<&GroupActivity>| -> f64 {
        let a = a.copied().unwrap_or_default();
        if by_value { a.credits_spent as f64 } else { a.active_users as f64 }
    };
    let unit = if by_value { MetricUnit::Credits } else { MetricUnit::Count } as i32;

    let current = store::segment_activity(conn, *range).await?;
    let before = if has_previous { Some(store::segment_activity(conn, previous).await?) } else { None };
    let mut segments: Vec<pb::UserSegment> = store::segments(conn)
        .await?
        .into_iter()
        .map(|s| {
            let key = (s.user_type.clone(), s.vertical.clone());
            pb::UserSegment {
                name: format!("{} · {}", display(&s.user_type), display(&s.vertical)),
                source: SegmentSource::Attributes as i32,
                users: s.users,
                value: measured(current.get(&key)),
                unit,
                previous_value: before.as_ref().map(|b| measured(b.get(&key))),
                condition: Some(attribute_condition(&s.user_type, &s.vertical)),
                cohort_id: None,
            }
        })
        .collect();

    let cohorts = store::cohorts(conn).await?;
    if !cohorts.is_empty() {
        let current = store::cohort_activity(conn, *range).await?;
        let before = if has_previous { Some(store::cohort_activity(conn, previous).await?) } else { None };
        segments.extend(cohorts.into_iter().map(|c| pb::UserSegment {
            name: c.name,
            source: SegmentSource::Cohort as i32,
            users: c.size,
            value: measured(current.get(&c.id)),
            unit,
            previous_value: before.as_ref().map(|b| measured(b.get(&c.id))),
            condition: Some(cohort_condition(c.id)),
            cohort_id: Some(c.id),
        }));
    }
    segments.sort_by(|a, b| b.value.total_cmp(&a.value).then_with(|| b.users.cmp(&a.users)).then_with(|| a.name.cmp(&b.name)));
    segments.truncate(*limit);
    Ok(pb::GetUserSegmentsResponse {
        measure: *measure as i32,
        range: Some(range.to_proto()),
        segments,
        description: definitions::segments_description(by_value),
    })
}
