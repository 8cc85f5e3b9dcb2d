//! A small SQL builder whose placeholders are numbered when the query is built, so compiled
//! fragments compose with a caller's own binds (`$n` is never written by hand).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::{
    pg::Pg,
    query_builder::{BoxedSqlQuery, SqlQuery},
    sql_types::{Array, BigInt, Bool, Date, Double, Integer, Text, Timestamp},
};

/// A value bound to a placeholder, with its PostgreSQL type.
#[derive(Debug, Clone, PartialEq)]
pub enum BindValue {
    Int4(i32),
    Int8(i64),
    Float8(f64),
    Text(String),
    Bool(bool),
    Timestamp(NaiveDateTime),
    Date(NaiveDate),
    Int8Array(Vec<i64>),
    Float8Array(Vec<f64>),
    TextArray(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Bind(BindValue),
}

/// SQL text with bind values in order. Build it with `push`/`push_bind`, combine fragments
/// with `append`, and run it with `into_query`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sql {
    pieces: Vec<Piece>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        let mut sql = Sql::default();
        sql.push(text);
        sql
    }

    /// Appends SQL text. Only ever text written in the code or taken from the catalogue.
    pub fn push(&mut self, text: &str) -> &mut Self {
        if !text.is_empty() {
            self.pieces.push(Piece::Text(text.to_string()));
        }
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn push_bind(&mut self, value: BindValue) -> &mut Self {
        self.pieces.push(Piece::Bind(value));
        self
    }

    /// Appends another fragment (its binds keep their order).
    pub fn append(&mut self, other: &Sql) -> &mut Self {
        self.pieces.extend(other.pieces.iter().cloned());
        self
    }

    /// Appends the LEFT JOINs a compiled filter needs (see [`super::Join`]).
    pub fn push_joins(&mut self, filter: &super::CompiledFilter) -> &mut Self {
        self.push_join_list(filter.joins())
    }

    /// Appends the LEFT JOINs of `joins` (e.g. one node's, [`super::CompiledFilter::node_joins`]).
    pub fn push_join_list(&mut self, joins: impl IntoIterator<Item = super::catalogue::Join>) -> &mut Self {
        for join in joins {
            self.push(join.sql());
        }
        self
    }

    /// Appends the filter's predicate, parenthesised.
    pub fn push_filter(&mut self, filter: &super::CompiledFilter) -> &mut Self {
        self.push("(").append(filter.predicate()).push(")")
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The SQL text with `$1..$n` placeholders, and the values in order.
    pub fn render(&self) -> (String, Vec<BindValue>) {
        let mut text = String::new();
        let mut binds = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Bind(v) => {
                    binds.push(v.clone());
                    text.push('$');
                    text.push_str(&binds.len().to_string());
                }
            }
        }
        (text, binds)
    }

    /// A diesel query with every value bound (load with `QueryableByName` rows).
    pub fn into_query(self) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
        let (text, binds) = self.render();
        bind_all(diesel::sql_query(text).into_boxed(), binds)
    }
}

/// Binds `binds` in order to a boxed query.
pub fn bind_all<'f>(mut query: BoxedSqlQuery<'f, Pg, SqlQuery>, binds: Vec<BindValue>) -> BoxedSqlQuery<'f, Pg, SqlQuery> {
    for value in binds {
        query = match value {
            BindValue::Int4(v) => query.bind::<Integer, _>(v),
            BindValue::Int8(v) => query.bind::<BigInt, _>(v),
            BindValue::Float8(v) => query.bind::<Double, _>(v),
            BindValue::Text(v) => query.bind::<Text, _>(v),
            BindValue::Bool(v) => query.bind::<Bool, _>(v),
            BindValue::Timestamp(v) => query.bind::<Timestamp, _>(v),
            BindValue::Date(v) => query.bind::<Date, _>(v),
            BindValue::Int8Array(v) => query.bind::<Array<BigInt>, _>(v),
            BindValue::Float8Array(v) => query.bind::<Array<Double>, _>(v),
            BindValue::TextArray(v) => query.bind::<Array<Text>, _>(v),
        };
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_appended_fragments() {
        let mut inner = Sql::new("x = ");
        inner.push_bind(BindValue::Int8(1)).push(" AND y = ").push_bind(BindValue::Text("a".into()));
        let mut outer = Sql::new("SELECT ");
        outer.push_bind(BindValue::Int8(7)).push(" WHERE ").append(&inner);
        let (text, binds) = outer.render();
        assert_eq!(text, "SELECT $1 WHERE x = $2 AND y = $3");
        assert_eq!(binds, vec![BindValue::Int8(7), BindValue::Int8(1), BindValue::Text("a".into())]);
    }
}
