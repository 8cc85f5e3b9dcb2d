//! Conversions shared by every service: paging (AIP-158), timestamps, JSON ↔ protobuf Struct.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use prost_types::{Struct, Timestamp, Value as PbValue, value::Kind};
use tonic::Status;

use crate::error::invalid_field;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;

/// `page_size` as documented in the contract: 0 means 50, at most 500, never negative.
pub fn page_size(requested: i32) -> Result<i64, Status> {
    match requested {
        n if n < 0 => Err(invalid_field("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as i64).min(MAX_PAGE_SIZE)),
    }
}

/// Page tokens are opaque to clients: the base64 of the last key of the previous page.
pub fn page_token(last_key: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("k:{last_key}"))
}

pub fn parse_page_token(token: &str) -> Result<Option<i64>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || invalid_field("page_token", "is not a token this server issued");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    text.strip_prefix("k:").and_then(|n| n.parse().ok()).map(Some).ok_or_else(invalid)
}

/// Offset-based token for lists ordered by something other than a unique key.
pub fn offset_token(offset: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

pub fn parse_offset_token(token: &str) -> Result<i64, Status> {
    if token.is_empty() {
        return Ok(0);
    }
    let invalid = || invalid_field("page_token", "is not a token this server issued");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    text.strip_prefix("o:").and_then(|n| n.parse().ok()).filter(|n: &i64| *n >= 0).ok_or_else(invalid)
}

/// Given `limit + 1` rows, keeps `limit` and returns the next page token if there was more.
pub fn split_page<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> i64) -> (Vec<T>, String) {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        let next = rows.last().map(|row| page_token(key(row))).unwrap_or_default();
        (rows, next)
    } else {
        (rows, String::new())
    }
}

pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: at.timestamp(), nanos: at.timestamp_subsec_nanos() as i32 }
}

pub fn opt_timestamp(at: Option<DateTime<Utc>>) -> Option<Timestamp> {
    at.map(timestamp)
}

pub fn from_timestamp(field: &str, ts: Timestamp) -> Result<DateTime<Utc>, Status> {
    DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32).ok_or_else(|| invalid_field(field, "is not a valid timestamp"))
}

pub fn to_struct(value: serde_json::Value) -> Option<Struct> {
    match to_pb_value(value).kind {
        Some(Kind::StructValue(s)) => Some(s),
        _ => None,
    }
}

pub fn to_pb_value(value: serde_json::Value) -> PbValue {
    use serde_json::Value as J;
    let kind = match value {
        J::Null => Kind::NullValue(0),
        J::Bool(b) => Kind::BoolValue(b),
        J::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        J::String(s) => Kind::StringValue(s),
        J::Array(items) => Kind::ListValue(prost_types::ListValue { values: items.into_iter().map(to_pb_value).collect() }),
        J::Object(map) => Kind::StructValue(Struct { fields: map.into_iter().map(|(k, v)| (k, to_pb_value(v))).collect() }),
    };
    PbValue { kind: Some(kind) }
}

pub fn from_pb_value(value: PbValue) -> serde_json::Value {
    use serde_json::Value as J;
    match value.kind {
        None | Some(Kind::NullValue(_)) => J::Null,
        Some(Kind::BoolValue(b)) => J::Bool(b),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(n).map(J::Number).unwrap_or(J::Null),
        Some(Kind::StringValue(s)) => J::String(s),
        Some(Kind::ListValue(list)) => J::Array(list.values.into_iter().map(from_pb_value).collect()),
        Some(Kind::StructValue(s)) => from_struct(s),
    }
}

pub fn from_struct(s: Struct) -> serde_json::Value {
    serde_json::Value::Object(s.fields.into_iter().map(|(k, v)| (k, from_pb_value(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_forgeries() {
        assert_eq!(parse_page_token(&page_token(42)).unwrap(), Some(42));
        assert_eq!(parse_page_token("").unwrap(), None);
        assert!(parse_page_token("not-a-token").is_err());
        assert_eq!(parse_offset_token(&offset_token(100)).unwrap(), 100);
        assert!(parse_offset_token(&page_token(1)).is_err());
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(10_000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn json_survives_a_struct_round_trip() {
        let json = serde_json::json!({"role": "admin", "n": 2.0, "tags": ["a"], "none": null});
        assert_eq!(from_struct(to_struct(json.clone()).unwrap()), json);
    }
}
