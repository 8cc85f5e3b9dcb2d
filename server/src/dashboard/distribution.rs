//! GetAttributeDistribution: how the users (optionally a filtered population) spread over one
//! field of the condition engine's catalogue: values of a categorical field, or equal-width
//! bins of a numeric one. Every slice carries the condition tree that selects exactly the users
//! it counts, so the UI drills down to the explorer with it.
//!
//! This is the one dashboard RPC that reads `public.users` per request: its population is an
//! arbitrary filter, which no rollup can anticipate.

use super::{DashboardError, segments::NOT_SET};
use crate::conditions::{self, BindValue, Catalogue, CompileOptions, CompiledFilter, Field, FieldType, Sql, Storage};
use cdp_proto::cdp::v1::{self as pb, Operator as Op, condition_node::Node, value::Kind};
use diesel::{
    QueryableByName,
    sql_types::{Double, Int8, Nullable, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

pub const DEFAULT_BINS: usize = 10;
pub const DEFAULT_CATEGORIES: usize = 10;
pub const MAX_SLICES: usize = 50;
pub const OTHER: &str = "Other";

/// A validated request.
pub struct DistributionQuery {
    pub field: &'static Field,
    pub bins: usize,
    pub max_categories: usize,
    /// The request's filter as sent (nested into every slice's condition) and compiled.
    pub filter_tree: Option<pb::ConditionGroup>,
    pub filter: CompiledFilter,
}

fn count_arg(field: &str, value: i32, default: usize) -> Result<usize, DashboardError> {
    match value {
        n if n < 0 => Err(DashboardError::invalid(field, "must not be negative")),
        0 => Ok(default),
        n => Ok((n as usize).min(MAX_SLICES)),
    }
}

impl DistributionQuery {
    pub fn from_request(request: pb::GetAttributeDistributionRequest, options: &CompileOptions) -> Result<Self, DashboardError> {
        let pb::GetAttributeDistributionRequest { field, bins, max_categories, filter } = request;
        let catalogue = Catalogue::standard();
        let field = match catalogue.get(&field) {
            None if field.is_empty() => return Err(DashboardError::invalid("field", "is required")),
            None => return Err(DashboardError::invalid("field", format!("{field:?} is not a field of the catalogue (UserService.ListUserFields)"))),
            Some(f) if !f.distributable => return Err(DashboardError::invalid("field", format!("{} is not distributable", f.name))),
            Some(f) => f,
        };
        let filter_compiled = match &filter {
            Some(group) => conditions::compile(catalogue, group, options).map_err(|e| DashboardError::Filter(e.into()))?,
            None => CompiledFilter::everyone(),
        };
        Ok(DistributionQuery {
            field,
            bins: count_arg("bins", bins, DEFAULT_BINS)?,
            max_categories: count_arg("max_categories", max_categories, DEFAULT_CATEGORIES)?,
            filter_tree: filter,
            filter: filter_compiled,
        })
    }
}

fn condition(field: &str, operator: Op, value: Option<Kind>) -> pb::ConditionNode {
    pb::ConditionNode {
        node: Some(Node::Condition(pb::Condition {
            field: field.into(),
            operator: operator as i32,
            value: value.map(|k| pb::Value { kind: Some(k) }),
            value_to: None,
        })),
    }
}

/// The slice's own conditions, ANDed with the request's filter (kept as a nested group).
fn slice_condition(query: &DistributionQuery, nodes: Vec<pb::ConditionNode>) -> pb::ConditionGroup {
    let mut all = Vec::new();
    if let Some(filter) = &query.filter_tree {
        all.push(pb::ConditionNode { node: Some(Node::Group(filter.clone())) });
    }
    all.extend(nodes);
    pb::ConditionGroup { combinator: pb::Combinator::And as i32, nodes: all }
}

#[derive(QueryableByName)]
struct ValueCount {
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
    #[diesel(sql_type = Int8)]
    users: i64,
}

#[derive(QueryableByName)]
struct Population {
    #[diesel(sql_type = Int8)]
    users: i64,
    #[diesel(sql_type = Int8)]
    not_set: i64,
    #[diesel(sql_type = Nullable<Double>)]
    low: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    high: Option<f64>,
}

/// `FROM public.users u <joins> WHERE <filter>` for the field and the filter.
fn population_sql(query: &DistributionQuery, select: &str) -> Sql {
    let mut sql = Sql::new(select);
    sql.push(" FROM public.users u");
    let filter = query.field.joins.iter().fold(query.filter.clone(), |f, j| f.with_join(*j));
    sql.push_joins(&filter).push(" WHERE ").push_filter(&filter);
    sql
}

/// "Not set" for the field's storage (the compiler's IS_NOT_SET semantics).
fn not_set_sql(field: &Field) -> String {
    let e = &field.expr;
    match field.storage {
        Storage::Text | Storage::CommaList => format!("coalesce({e}, '') = ''"),
        Storage::TextArray => format!("coalesce(cardinality({e}), 0) = 0"),
        _ => format!("{e} IS NULL"),
    }
}

pub async fn get_attribute_distribution(
    conn: &mut AsyncPgConnection,
    query: &DistributionQuery,
) -> Result<pb::GetAttributeDistributionResponse, DashboardError> {
    let field = query.field;
    let expr = &field.expr;
    let numeric = field.field_type() == FieldType::Number;
    let (low, high) = if numeric { (format!("min({expr})::float8"), format!("max({expr})::float8")) } else { ("NULL::float8".into(), "NULL::float8".into()) };
    let population: Population = population_sql(
        query,
        &format!("SELECT count(*)::int8 AS users, count(*) FILTER (WHERE {})::int8 AS not_set, {low} AS low, {high} AS high", not_set_sql(field)),
    )
    .into_query()
    .get_result(conn)
    .await?;
    let mut buckets = if numeric { bins(conn, query, &population).await? } else { categories(conn, query).await? };
    if population.not_set > 0 {
        buckets.push(pb::DistributionBucket {
            label: NOT_SET.into(),
            count: population.not_set,
            condition: Some(slice_condition(query, vec![condition(field.name, Op::IsNotSet, None)])),
        });
    }
    Ok(pb::GetAttributeDistributionResponse {
        field: field.name.to_string(),
        label: field.label.to_string(),
        r#type: field.field_type().to_proto() as i32,
        buckets,
        total_users: population.users,
    })
}

/// Values by count (a list field counts a user in each of its values), the rest in `Other`.
async fn categories(conn: &mut AsyncPgConnection, query: &DistributionQuery) -> Result<Vec<pb::DistributionBucket>, DashboardError> {
    let field = query.field;
    let expr = &field.expr;
    // The grouping key matches the drill-down operator: EQUALS compares text case-insensitively.
    let select = match field.storage {
        Storage::CommaList => format!("SELECT v.value, count(*)::int8 AS users FROM (SELECT u.user_id, {expr} AS list"),
        Storage::TextArray => format!("SELECT v.value, count(*)::int8 AS users FROM (SELECT u.user_id, array_to_string({expr}, ',') AS list"),
        Storage::IntFlag | Storage::Bool => format!("SELECT CASE WHEN ({expr})::int <> 0 THEN 'yes' ELSE 'no' END AS value, count(*)::int8 AS users"),
        _ => format!("SELECT lower({expr}) AS value, count(*)::int8 AS users"),
    };
    let mut sql = population_sql(query, &select);
    match field.storage {
        Storage::CommaList | Storage::TextArray => {
            sql.push(") p, LATERAL (SELECT DISTINCT lower(trim(x)) AS value FROM unnest(string_to_array(p.list, ',')) x WHERE trim(x) <> '') v GROUP BY 1");
        }
        _ => {
            sql.push(&format!(" AND NOT ({}) GROUP BY 1", not_set_sql(field)));
        }
    }
    sql.push(" ORDER BY 2 DESC, 1");
    let rows: Vec<ValueCount> = sql.into_query().load(conn).await?;
    let values: Vec<(String, i64)> = rows.into_iter().filter_map(|r| r.value.map(|v| (v, r.users))).collect();
    let is_flag = matches!(field.storage, Storage::IntFlag | Storage::Bool);
    // A flag has two values: both are always shown (no `Other` to express with its operators).
    let shown = if is_flag { values.len() } else { values.len().min(query.max_categories) };
    let is_list = matches!(field.storage, Storage::CommaList | Storage::TextArray);
    let one = |value: &str| -> pb::ConditionNode {
        match field.storage {
            _ if is_list => condition(field.name, Op::ContainsAny, Some(Kind::Texts(pb::StringList { values: vec![value.into()] }))),
            Storage::IntFlag | Storage::Bool => condition(field.name, Op::Equals, Some(Kind::Flag(value == "yes"))),
            _ => condition(field.name, Op::Equals, Some(Kind::Text(value.into()))),
        }
    };
    let mut out: Vec<pb::DistributionBucket> = values[..shown]
        .iter()
        .map(|(value, users)| pb::DistributionBucket { label: value.clone(), count: *users, condition: Some(slice_condition(query, vec![one(value)])) })
        .collect();
    let rest = &values[shown..];
    if !rest.is_empty() {
        let texts = pb::StringList { values: rest.iter().map(|(v, _)| v.clone()).collect() };
        let node = if is_list {
            condition(field.name, Op::ContainsAny, Some(Kind::Texts(texts)))
        } else {
            // Everything that is set and not one of the values shown (NOT_IN never matches null).
            let shown = pb::StringList { values: values[..shown].iter().map(|(v, _)| v.clone()).collect() };
            condition(field.name, Op::NotIn, Some(Kind::Texts(shown)))
        };
        out.push(pb::DistributionBucket { label: OTHER.into(), count: rest.iter().map(|(_, n)| n).sum(), condition: Some(slice_condition(query, vec![node])) });
    }
    Ok(out)
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        let text = format!("{value:.2}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn range_label(lower: f64, upper: f64) -> String {
    if upper == lower { format_number(lower) } else { format!("{} – {}", format_number(lower), format_number(upper)) }
}

/// Equal-width bins from the population's minimum to its maximum (whole-number bins for
/// integer fields). Each bin is [low, high); the last one also holds the maximum.
async fn bins(conn: &mut AsyncPgConnection, query: &DistributionQuery, population: &Population) -> Result<Vec<pb::DistributionBucket>, DashboardError> {
    let (Some(low), Some(high)) = (population.low, population.high) else { return Ok(Vec::new()) };
    let field = query.field;
    let integer = matches!(field.storage, Storage::Integer);
    let edges: Vec<f64> = if integer {
        let span = high - low + 1.0;
        let width = (span / query.bins as f64).ceil().max(1.0);
        let count = (span / width).ceil() as usize;
        (0..count).map(|i| low + i as f64 * width).collect()
    } else if high > low {
        let width = (high - low) / query.bins as f64;
        (0..query.bins).map(|i| low + i as f64 * width).collect()
    } else {
        vec![low]
    };
    // width_bucket with an array of lower bounds: bucket i holds edges[i-1] <= x < edges[i].
    let filter = field.joins.iter().fold(query.filter.clone(), |f, j| f.with_join(*j));
    let mut sql = Sql::new("SELECT b::text AS value, count(*)::int8 AS users FROM (SELECT width_bucket((");
    sql.push(&field.expr).push(")::float8, ").push_bind(BindValue::Float8Array(edges.clone())).push(") AS b FROM public.users u");
    sql.push_joins(&filter).push(" WHERE ").push_filter(&filter).push(" AND (").push(&field.expr).push(") IS NOT NULL) t GROUP BY 1");
    let rows: Vec<ValueCount> = sql.into_query().load(conn).await?;
    let count_of = |i: usize| rows.iter().find(|r| r.value.as_deref() == Some(&i.to_string())).map_or(0, |r| r.users);
    Ok(edges
        .iter()
        .enumerate()
        .map(|(i, &lower)| {
            let last = i + 1 == edges.len();
            let (label, nodes) = if integer {
                let upper = if last { high } else { edges[i + 1] - 1.0 };
                (
                    range_label(lower, upper),
                    vec![
                        condition(field.name, Op::GreaterOrEqual, Some(Kind::Number(lower))),
                        condition(field.name, Op::LessOrEqual, Some(Kind::Number(upper))),
                    ],
                )
            } else if last {
                (
                    range_label(lower, high),
                    vec![
                        condition(field.name, Op::GreaterOrEqual, Some(Kind::Number(lower))),
                        condition(field.name, Op::LessOrEqual, Some(Kind::Number(high))),
                    ],
                )
            } else {
                let upper = edges[i + 1];
                (
                    range_label(lower, upper),
                    vec![condition(field.name, Op::GreaterOrEqual, Some(Kind::Number(lower))), condition(field.name, Op::LessThan, Some(Kind::Number(upper)))],
                )
            };
            pb::DistributionBucket { label, count: count_of(i + 1), condition: Some(slice_condition(query, nodes)) }
        })
        .collect())
}
