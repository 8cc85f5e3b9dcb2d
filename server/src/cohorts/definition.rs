//! A cohort's definition as stored in `cdp.cohorts.definition`: the `cdp.v1.ConditionGroup`
//! in the proto3 JSON mapping (the form grpc-web clients see, docs/api-spec.md "Condition
//! trees"), so anything reading the column (dashboard segments, exports) reads one format.

use cdp_proto::cdp::v1::{self as pb, condition_node::Node, value::Kind};
use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value, json};

/// The tree as proto3 JSON: enum names, camelCase fields, int64 as strings.
pub fn to_json(group: &pb::ConditionGroup) -> Value {
    let combinator = pb::Combinator::try_from(group.combinator).unwrap_or(pb::Combinator::Unspecified);
    let nodes: Vec<Value> = group
        .nodes
        .iter()
        .map(|node| match &node.node {
            Some(Node::Condition(c)) => json!({ "condition": condition_to_json(c) }),
            Some(Node::Group(g)) => json!({ "group": to_json(g) }),
            None => json!({}),
        })
        .collect();
    json!({ "combinator": combinator.as_str_name(), "nodes": nodes })
}

fn condition_to_json(c: &pb::Condition) -> Value {
    let operator = pb::Operator::try_from(c.operator).unwrap_or(pb::Operator::Unspecified);
    let mut out = Map::new();
    out.insert("field".into(), json!(c.field));
    out.insert("operator".into(), json!(operator.as_str_name()));
    if let Some(v) = &c.value {
        out.insert("value".into(), value_to_json(v));
    }
    if let Some(v) = &c.value_to {
        out.insert("valueTo".into(), value_to_json(v));
    }
    Value::Object(out)
}

fn value_to_json(v: &pb::Value) -> Value {
    match &v.kind {
        None => json!({}),
        Some(Kind::Number(n)) => json!({ "number": n }),
        Some(Kind::Text(t)) => json!({ "text": t }),
        Some(Kind::Texts(list)) => json!({ "texts": { "values": list.values } }),
        Some(Kind::Numbers(list)) => json!({ "numbers": { "values": list.values } }),
        Some(Kind::Timestamp(ts)) => {
            let at = DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32).unwrap_or_default();
            json!({ "timestamp": at.to_rfc3339_opts(SecondsFormat::AutoSi, true) })
        }
        Some(Kind::Date(d)) => json!({ "date": d }),
        Some(Kind::Days(d)) => json!({ "days": d.to_string() }),
        Some(Kind::Flag(f)) => json!({ "flag": f }),
        Some(Kind::CohortId(id)) => json!({ "cohortId": id.to_string() }),
        Some(Kind::AmplitudeCohortId(id)) => json!({ "amplitudeCohortId": id }),
    }
}

/// Reads a stored tree back. An empty object (imported cohorts) is an empty AND group.
pub fn from_json(value: &Value) -> Result<pb::ConditionGroup, String> {
    let object = value.as_object().ok_or("a definition must be a JSON object")?;
    let combinator = match object.get("combinator").and_then(Value::as_str) {
        None => pb::Combinator::And,
        Some(name) => pb::Combinator::from_str_name(name).ok_or_else(|| format!("unknown combinator {name:?}"))?,
    };
    let nodes = match object.get("nodes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(node_from_json).collect::<Result<_, _>>()?,
        Some(_) => return Err("`nodes` must be an array".into()),
    };
    Ok(pb::ConditionGroup { combinator: combinator as i32, nodes })
}

fn node_from_json(value: &Value) -> Result<pb::ConditionNode, String> {
    let object = value.as_object().ok_or("a node must be a JSON object")?;
    let node = if let Some(group) = object.get("group") {
        Some(Node::Group(from_json(group)?))
    } else if let Some(c) = object.get("condition") {
        Some(Node::Condition(condition_from_json(c)?))
    } else {
        None
    };
    Ok(pb::ConditionNode { node })
}

fn condition_from_json(value: &Value) -> Result<pb::Condition, String> {
    let object = value.as_object().ok_or("a condition must be a JSON object")?;
    let operator = match object.get("operator").and_then(Value::as_str) {
        None => pb::Operator::Unspecified,
        Some(name) => pb::Operator::from_str_name(name).ok_or_else(|| format!("unknown operator {name:?}"))?,
    };
    let field = object.get("field").and_then(Value::as_str).unwrap_or_default().to_string();
    let value_of = |keys: [&str; 2]| keys.iter().find_map(|k| object.get(*k)).map(value_from_json).transpose();
    Ok(pb::Condition { field, operator: operator as i32, value: value_of(["value", "value"])?, value_to: value_of(["valueTo", "value_to"])? })
}

fn int64(value: &Value) -> Result<i64, String> {
    match value {
        Value::String(s) => s.parse().map_err(|_| format!("{s:?} is not an integer")),
        Value::Number(n) => n.as_i64().ok_or_else(|| format!("{n} is not an integer")),
        other => Err(format!("{other} is not an integer")),
    }
}

fn strings(value: &Value) -> Vec<String> {
    value.get("values").and_then(Value::as_array).map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn value_from_json(value: &Value) -> Result<pb::Value, String> {
    let object = value.as_object().ok_or("a value must be a JSON object")?;
    let get = |camel: &str, snake: &str| object.get(camel).or_else(|| object.get(snake));
    let kind = if let Some(n) = object.get("number") {
        Some(Kind::Number(n.as_f64().ok_or("`number` must be a number")?))
    } else if let Some(t) = object.get("text") {
        Some(Kind::Text(t.as_str().ok_or("`text` must be a string")?.to_string()))
    } else if let Some(t) = object.get("texts") {
        Some(Kind::Texts(pb::StringList { values: strings(t) }))
    } else if let Some(n) = object.get("numbers") {
        let values = n.get("values").and_then(Value::as_array).map(|v| v.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
        Some(Kind::Numbers(pb::NumberList { values }))
    } else if let Some(t) = object.get("timestamp") {
        let text = t.as_str().ok_or("`timestamp` must be an RFC 3339 string")?;
        let at = DateTime::parse_from_rfc3339(text).map_err(|e| format!("timestamp {text:?}: {e}"))?;
        Some(Kind::Timestamp(prost_types::Timestamp { seconds: at.timestamp(), nanos: at.timestamp_subsec_nanos() as i32 }))
    } else if let Some(d) = object.get("date") {
        Some(Kind::Date(d.as_str().ok_or("`date` must be a string")?.to_string()))
    } else if let Some(d) = object.get("days") {
        Some(Kind::Days(int64(d)?))
    } else if let Some(f) = object.get("flag") {
        Some(Kind::Flag(f.as_bool().ok_or("`flag` must be a boolean")?))
    } else if let Some(id) = get("cohortId", "cohort_id") {
        Some(Kind::CohortId(int64(id)?))
    } else if let Some(id) = get("amplitudeCohortId", "amplitude_cohort_id") {
        Some(Kind::AmplitudeCohortId(id.as_str().ok_or("`amplitudeCohortId` must be a string")?.to_string()))
    } else {
        None
    };
    Ok(pb::Value { kind })
}

/// Every cohort id the tree refers to (IN_COHORT / NOT_IN_COHORT), with the path of its value
/// under `root` (e.g. `cohort.definition.nodes[1].group.nodes[0].condition.value`).
pub fn cohort_refs(group: &pb::ConditionGroup, root: &str) -> Vec<(String, i64)> {
    let mut found = Vec::new();
    collect_cohort_refs(group, root, &mut found);
    found
}

fn collect_cohort_refs(group: &pb::ConditionGroup, path: &str, found: &mut Vec<(String, i64)>) {
    for (i, node) in group.nodes.iter().enumerate() {
        match &node.node {
            Some(Node::Condition(c)) => {
                if let Some(pb::Value { kind: Some(Kind::CohortId(id)) }) = &c.value {
                    found.push((format!("{path}.nodes[{i}].condition.value"), *id));
                }
            }
            Some(Node::Group(g)) => collect_cohort_refs(g, &format!("{path}.nodes[{i}].group"), found),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(field: &str, operator: pb::Operator, kind: Kind) -> pb::ConditionNode {
        pb::ConditionNode {
            node: Some(Node::Condition(pb::Condition {
                field: field.into(),
                operator: operator as i32,
                value: Some(pb::Value { kind: Some(kind) }),
                value_to: None,
            })),
        }
    }

    #[test]
    fn every_value_kind_survives_a_json_round_trip() {
        let inner = pb::ConditionGroup {
            combinator: pb::Combinator::Or as i32,
            nodes: vec![
                condition("verticals_listed_in", pb::Operator::ContainsAny, Kind::Texts(pb::StringList { values: vec!["cars".into(), "property".into()] })),
                condition("cohort", pb::Operator::InCohort, Kind::CohortId(42)),
                condition("amplitude_cohort", pb::Operator::InAmplitudeCohort, Kind::AmplitudeCohortId("abc".into())),
            ],
        };
        let mut between = condition("total_credits_spent", pb::Operator::Between, Kind::Number(10.5));
        if let Some(Node::Condition(c)) = &mut between.node {
            c.value_to = Some(pb::Value { kind: Some(Kind::Number(20.0)) });
        }
        let tree = pb::ConditionGroup {
            combinator: pb::Combinator::And as i32,
            nodes: vec![
                between,
                condition("user_type", pb::Operator::Equals, Kind::Text("dealer".into())),
                condition("user_id", pb::Operator::In, Kind::Numbers(pb::NumberList { values: vec![1.0, 2.0] })),
                condition("last_transaction_date", pb::Operator::Before, Kind::Timestamp(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 })),
                condition("first_paid_listing_date", pb::Operator::After, Kind::Date("2024-01-31".into())),
                condition("last_paid_listing_date", pb::Operator::WithinLastDays, Kind::Days(30)),
                condition("is_block", pb::Operator::Equals, Kind::Flag(true)),
                pb::ConditionNode { node: Some(Node::Group(inner)) },
            ],
        };
        let json = to_json(&tree);
        assert_eq!(from_json(&json).unwrap(), tree);
        assert_eq!(json["nodes"][7]["group"]["nodes"][1]["condition"]["value"]["cohortId"], "42");
        assert_eq!(cohort_refs(&tree, "definition"), vec![("definition.nodes[7].group.nodes[1].condition.value".to_string(), 42)]);
    }

    #[test]
    fn an_empty_object_is_an_empty_and_group() {
        let group = from_json(&json!({})).unwrap();
        assert_eq!(group.combinator, pb::Combinator::And as i32);
        assert!(group.nodes.is_empty());
    }
}
