//! The compiler: a `ConditionGroup` tree → one boolean SQL expression over `public.users u`
//! (plus the LEFT JOINs it needs). Field names resolve only through the catalogue and every
//! value is a bind parameter, so nothing from a request is ever spliced into SQL text.

use super::{
    ConditionError,
    catalogue::{Catalogue, Field, Join, Storage},
    sql::{BindValue, Sql},
};
use cdp_proto::cdp::v1::{self as pb, Combinator, Operator as Op, value::Kind};
use chrono::{Days, NaiveDate, NaiveDateTime, Utc};
use std::collections::BTreeSet;

/// Deepest nesting accepted (the root group is level 1).
pub const MAX_DEPTH: usize = 8;
/// Most conditions (leaves) accepted in one tree.
pub const MAX_CONDITIONS: usize = 200;
/// Most values in one IN / CONTAINS_* list.
const MAX_LIST_VALUES: usize = 1000;
/// Longest text operand.
const MAX_TEXT_CHARS: usize = 500;
/// Longest "last N days" (100 years).
const MAX_DAYS: i64 = 36_500;

/// What compilation needs besides the tree.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Name of the tree in the request, the root of error paths (`filter`, `definition`).
    pub path: String,
    /// "Today" in the reporting time zone: the anchor of "within the last N days".
    pub today: NaiveDate,
    /// The reporting time zone (`CDP_REPORTING_TZ`): instants are compared in its wall time.
    pub tz: chrono_tz::Tz,
    /// Whether conditions on personal data (`phone`) are allowed (`users.read_pii`).
    pub allow_pii: bool,
}

impl CompileOptions {
    /// Options for a request made now, in `tz`, without personal-data fields.
    pub fn now(path: &str, tz: chrono_tz::Tz) -> Self {
        CompileOptions { path: path.to_string(), today: Utc::now().with_timezone(&tz).date_naive(), tz, allow_pii: false }
    }

    pub fn allow_pii(mut self, allow: bool) -> Self {
        self.allow_pii = allow;
        self
    }
}

/// A compiled tree. Use it through [`Sql::push_joins`] and [`Sql::push_filter`], or the
/// helpers `count_matching` and `funnel`.
#[derive(Clone, Debug)]
pub struct CompiledFilter {
    predicate: Sql,
    combinator: Combinator,
    /// Predicate and label of each top-level node, in order (funnels).
    top_level: Vec<(Sql, String)>,
    /// The joins each top-level node reads, in the same order.
    top_level_joins: Vec<BTreeSet<Join>>,
    /// Whether each top-level node reads `public.users` itself (a column, or the user id).
    top_level_reads_users: Vec<bool>,
    joins: BTreeSet<Join>,
    /// (path of the value, cohort id) of every IN_COHORT / NOT_IN_COHORT.
    pub(super) cohort_refs: Vec<(String, i64)>,
    /// (path of the value, Amplitude cohort id) of every *_AMPLITUDE_COHORT.
    pub(super) amplitude_refs: Vec<(String, String)>,
}

impl CompiledFilter {
    /// The filter of an absent tree: every user.
    pub fn everyone() -> Self {
        CompiledFilter {
            predicate: Sql::new("TRUE"),
            combinator: Combinator::And,
            top_level: Vec::new(),
            top_level_joins: Vec::new(),
            top_level_reads_users: Vec::new(),
            joins: BTreeSet::new(),
            cohort_refs: Vec::new(),
            amplitude_refs: Vec::new(),
        }
    }

    /// The boolean expression (over `u` and the join aliases).
    pub fn predicate(&self) -> &Sql {
        &self.predicate
    }

    /// The tables to LEFT JOIN, in a fixed order.
    pub fn joins(&self) -> impl Iterator<Item = Join> + '_ {
        self.joins.iter().copied()
    }

    /// Adds a join (e.g. a caller that also selects CDP attributes); joining more is harmless.
    pub fn with_join(mut self, join: Join) -> Self {
        self.joins.insert(join);
        self
    }

    /// Human-readable labels of the top-level nodes, e.g. `total_credits_spent > 100`.
    pub fn top_level_labels(&self) -> Vec<String> {
        self.top_level.iter().map(|(_, label)| label.clone()).collect()
    }

    /// The top-level nodes: each one's boolean expression (over `u` and the join aliases) and label.
    pub fn top_level_nodes(&self) -> &[(Sql, String)] {
        &self.top_level
    }

    /// The joins top-level node `index` reads (a subset of [`Self::joins`]).
    pub fn node_joins(&self, index: usize) -> &BTreeSet<Join> {
        &self.top_level_joins[index]
    }

    /// Whether top-level node `index` reads `public.users u` itself; when it does not, it
    /// reads only its joins' aliases.
    pub fn node_reads_users(&self, index: usize) -> bool {
        self.top_level_reads_users[index]
    }

    /// Whether the top-level group is AND (else OR).
    pub fn is_and(&self) -> bool {
        self.combinator == Combinator::And
    }

    /// Ids of the CDP cohorts the tree refers to (IN_COHORT / NOT_IN_COHORT), deduplicated.
    pub fn cohort_ids(&self) -> Vec<i64> {
        let ids: BTreeSet<i64> = self.cohort_refs.iter().map(|r| r.1).collect();
        ids.into_iter().collect()
    }

    /// Ids of the Amplitude cohorts the tree refers to, deduplicated.
    pub fn amplitude_cohort_ids(&self) -> Vec<String> {
        let ids: BTreeSet<&String> = self.amplitude_refs.iter().map(|r| &r.1).collect();
        ids.into_iter().cloned().collect()
    }

    /// One query returning `total_users`, `matching`, `step_matching` and `step_cumulative`
    /// (int8 arrays, one entry per top-level node): every node is evaluated once per user.
    pub fn funnel_query(&self) -> Sql {
        let glue = if self.is_and() { " AND " } else { " OR " };
        let columns: Vec<String> = (0..self.top_level.len()).map(|i| format!("c{i}")).collect();
        let mut sql = Sql::new("SELECT count(*) AS total_users, count(*) FILTER (WHERE ");
        sql.push(&if columns.is_empty() { (if self.is_and() { "TRUE" } else { "FALSE" }).to_string() } else { columns.join(glue) });
        sql.push(") AS matching, ARRAY[");
        let matching: Vec<String> = columns.iter().map(|c| format!("count(*) FILTER (WHERE {c})")).collect();
        sql.push(&matching.join(", "));
        sql.push("]::int8[] AS step_matching, ARRAY[");
        let cumulative: Vec<String> = (0..columns.len()).map(|i| format!("count(*) FILTER (WHERE {})", columns[..=i].join(glue))).collect();
        sql.push(&cumulative.join(", "));
        sql.push("]::int8[] AS step_cumulative FROM (SELECT ");
        if self.top_level.is_empty() {
            sql.push("1 AS c");
        }
        for (i, (node, _)) in self.top_level.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(").append(node).push(&format!(") AS c{i}"));
        }
        sql.push(" FROM public.users u").push_joins(self).push(") AS nodes");
        sql
    }
}

/// Compiles `group` against `catalogue`. See the module documentation for the semantics.
pub fn compile(catalogue: &Catalogue, group: &pb::ConditionGroup, options: &CompileOptions) -> Result<CompiledFilter, ConditionError> {
    let mut compiler = Compiler {
        catalogue,
        options,
        conditions: 0,
        joins: BTreeSet::new(),
        reads_users: false,
        top_level_joins: Vec::new(),
        top_level_reads_users: Vec::new(),
        cohort_refs: Vec::new(),
        amplitude_refs: Vec::new(),
    };
    let (predicate, combinator, nodes) = compiler.group(group, &options.path, 1)?;
    Ok(CompiledFilter {
        predicate,
        combinator,
        top_level: nodes,
        top_level_joins: compiler.top_level_joins,
        top_level_reads_users: compiler.top_level_reads_users,
        joins: compiler.joins,
        cohort_refs: compiler.cohort_refs,
        amplitude_refs: compiler.amplitude_refs,
    })
}

struct Compiler<'a> {
    catalogue: &'a Catalogue,
    options: &'a CompileOptions,
    conditions: usize,
    /// The joins of the node being compiled (all of them once compilation ends).
    joins: BTreeSet<Join>,
    /// Whether the node being compiled reads `public.users u` itself.
    reads_users: bool,
    top_level_joins: Vec<BTreeSet<Join>>,
    top_level_reads_users: Vec<bool>,
    cohort_refs: Vec<(String, i64)>,
    amplitude_refs: Vec<(String, String)>,
}

type Nodes = Vec<(Sql, String)>;

impl Compiler<'_> {
    fn group(&mut self, group: &pb::ConditionGroup, path: &str, depth: usize) -> Result<(Sql, Combinator, Nodes), ConditionError> {
        if depth > MAX_DEPTH {
            return Err(ConditionError::new(path, format!("groups nest at most {MAX_DEPTH} levels deep")));
        }
        let combinator = match Combinator::try_from(group.combinator) {
            Ok(c @ (Combinator::And | Combinator::Or)) => c,
            _ => return Err(ConditionError::new(format!("{path}.combinator"), "must be COMBINATOR_AND or COMBINATOR_OR")),
        };
        let mut nodes = Vec::with_capacity(group.nodes.len());
        for (i, node) in group.nodes.iter().enumerate() {
            let node_path = format!("{path}.nodes[{i}]");
            // A top-level node's joins are collected apart, so its set can be found alone.
            let outer_joins = if depth == 1 {
                self.reads_users = false;
                Some(std::mem::take(&mut self.joins))
            } else {
                None
            };
            let compiled = match &node.node {
                Some(pb::condition_node::Node::Condition(condition)) => self.condition(condition, &format!("{node_path}.condition"))?,
                Some(pb::condition_node::Node::Group(inner)) => {
                    let inner_path = format!("{node_path}.group");
                    let (sql, inner_combinator, inner_nodes) = self.group(inner, &inner_path, depth + 1)?;
                    let word = if inner_combinator == Combinator::And { "all" } else { "any" };
                    (sql, format!("{word} of ({})", inner_nodes.iter().map(|n| n.1.as_str()).collect::<Vec<_>>().join("; ")))
                }
                None => return Err(ConditionError::new(node_path, "must hold a condition or a group")),
            };
            if let Some(outer) = outer_joins {
                let node_joins = std::mem::replace(&mut self.joins, outer);
                self.joins.extend(node_joins.iter().copied());
                self.top_level_joins.push(node_joins);
                self.top_level_reads_users.push(self.reads_users);
            }
            nodes.push(compiled);
        }
        let mut sql = Sql::default();
        if nodes.is_empty() {
            // An empty AND matches everyone, an empty OR no one (common.proto).
            sql.push(if combinator == Combinator::And { "TRUE" } else { "FALSE" });
        } else {
            let glue = if combinator == Combinator::And { " AND " } else { " OR " };
            sql.push("(");
            for (i, (node, _)) in nodes.iter().enumerate() {
                if i > 0 {
                    sql.push(glue);
                }
                sql.append(node);
            }
            sql.push(")");
        }
        Ok((sql, combinator, nodes))
    }

    fn condition(&mut self, condition: &pb::Condition, path: &str) -> Result<(Sql, String), ConditionError> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(ConditionError::new(path, format!("a tree holds at most {MAX_CONDITIONS} conditions")));
        }
        let field_path = format!("{path}.field");
        if condition.field.is_empty() {
            return Err(ConditionError::new(field_path, "is required"));
        }
        let field = self.catalogue.get(&condition.field).ok_or_else(|| {
            let shown: String = condition.field.chars().take(64).collect();
            ConditionError::new(&field_path, format!("unknown field {shown:?}; UserService.ListUserFields lists the fields"))
        })?;
        if field.pii && !self.options.allow_pii {
            return Err(ConditionError::new(field_path, format!("filtering on {} needs the users.read_pii permission", field.name)));
        }
        let op = match Op::try_from(condition.operator) {
            Ok(Op::Unspecified) | Err(_) => return Err(ConditionError::new(format!("{path}.operator"), "is required")),
            Ok(op) => op,
        };
        if !field.allows(op) {
            let allowed: Vec<&str> = field.operators().iter().map(|o| o.as_str_name()).collect();
            return Err(ConditionError::new(
                format!("{path}.operator"),
                format!("{} does not accept {}; it accepts {}", field.name, op.as_str_name(), allowed.join(", ")),
            ));
        }
        let operands = Operands { path, value: condition.value.as_ref(), value_to: condition.value_to.as_ref(), op, options: self.options };
        operands.check_value_to()?;
        let (sql, operand_label) = match field.storage {
            Storage::Integer | Storage::Double => number_condition(field, &operands)?,
            Storage::Text | Storage::Enum => text_condition(field, &operands)?,
            Storage::CommaList | Storage::TextArray => list_condition(field, &operands)?,
            Storage::Timestamp | Storage::Date => time_condition(field, &operands)?,
            Storage::IntFlag | Storage::Bool => flag_condition(field, &operands)?,
            Storage::CohortMembership => {
                let id = operands.cohort_id()?;
                self.cohort_refs.push((operands.value_path(), id));
                let mut sql = Sql::new(if op == Op::InCohort { "EXISTS" } else { "NOT EXISTS" });
                sql.push(" (SELECT 1 FROM cdp.cohort_members cm WHERE cm.cohort_id = ").push_bind(BindValue::Int8(id)).push(" AND cm.user_id = u.user_id)");
                (sql, id.to_string())
            }
            Storage::AmplitudeMembership => {
                let id = operands.amplitude_cohort_id()?;
                self.amplitude_refs.push((operands.value_path(), id.clone()));
                // The latest import of that Amplitude cohort is the one that counts.
                let mut sql = Sql::new(if op == Op::InAmplitudeCohort { "EXISTS" } else { "NOT EXISTS" });
                sql.push(
                    " (SELECT 1 FROM cdp.cohort_members cm WHERE cm.user_id = u.user_id AND cm.cohort_id = \
                     (SELECT c.id FROM cdp.cohorts c WHERE c.source = 'amplitude_import' AND c.amplitude_cohort_id = ",
                )
                .push_bind(BindValue::Text(id.clone()))
                .push(" AND c.deleted_at IS NULL ORDER BY c.created_at DESC, c.id DESC LIMIT 1))");
                (sql, format!("{id:?}"))
            }
        };
        self.joins.extend(field.joins.iter().copied());
        // Users columns and cohort memberships (`u.user_id`) read the users table itself.
        self.reads_users |= field.joins.is_empty();
        let label = format!("{} {}{}", field.name, operator_words(op), if operand_label.is_empty() { String::new() } else { format!(" {operand_label}") });
        Ok((sql, label))
    }
}

/// The operands of one condition, with the paths errors name.
struct Operands<'a> {
    path: &'a str,
    value: Option<&'a pb::Value>,
    value_to: Option<&'a pb::Value>,
    op: Op,
    options: &'a CompileOptions,
}

/// A time operand: a whole calendar day or an instant (as reporting-zone wall time).
#[derive(Clone, Copy, Debug, PartialEq)]
enum When {
    Day(NaiveDate),
    At(NaiveDateTime),
}

impl Operands<'_> {
    fn value_path(&self) -> String {
        format!("{}.value", self.path)
    }

    fn value_to_path(&self) -> String {
        format!("{}.value_to", self.path)
    }

    fn invalid(&self, reason: impl Into<String>) -> ConditionError {
        ConditionError::new(self.value_path(), reason)
    }

    fn check_value_to(&self) -> Result<(), ConditionError> {
        if self.op != Op::Between && self.value_to.and_then(|v| v.kind.as_ref()).is_some() {
            return Err(ConditionError::new(self.value_to_path(), format!("must be unset for {}", self.op.as_str_name())));
        }
        if matches!(self.op, Op::IsSet | Op::IsNotSet) && self.value.and_then(|v| v.kind.as_ref()).is_some() {
            return Err(self.invalid(format!("must be unset for {}", self.op.as_str_name())));
        }
        Ok(())
    }

    fn kind(&self, value: Option<&pb::Value>, path: String, expected: &str) -> Result<Kind, ConditionError> {
        value.and_then(|v| v.kind.clone()).ok_or_else(|| ConditionError::new(path, format!("{} needs {expected}", self.op.as_str_name())))
    }

    fn number_at(&self, value: Option<&pb::Value>, path: String) -> Result<f64, ConditionError> {
        match self.kind(value, path.clone(), "a number (value.number)")? {
            Kind::Number(n) if n.is_finite() => Ok(n),
            Kind::Number(_) => Err(ConditionError::new(path, "must be a finite number")),
            _ => Err(ConditionError::new(path, format!("{} needs a number (value.number)", self.op.as_str_name()))),
        }
    }

    fn number(&self) -> Result<f64, ConditionError> {
        self.number_at(self.value, self.value_path())
    }

    fn numbers(&self) -> Result<Vec<f64>, ConditionError> {
        match self.kind(self.value, self.value_path(), "numbers (value.numbers)")? {
            Kind::Numbers(list) if list.values.is_empty() => Err(self.invalid("must list at least one number")),
            Kind::Numbers(list) if list.values.len() > MAX_LIST_VALUES => Err(self.invalid(format!("must list at most {MAX_LIST_VALUES} numbers"))),
            Kind::Numbers(list) if list.values.iter().any(|n| !n.is_finite()) => Err(self.invalid("must list finite numbers")),
            Kind::Numbers(list) => Ok(list.values),
            _ => Err(self.invalid(format!("{} needs numbers (value.numbers)", self.op.as_str_name()))),
        }
    }

    fn text(&self) -> Result<String, ConditionError> {
        match self.kind(self.value, self.value_path(), "a text (value.text)")? {
            Kind::Text(t) if t.is_empty() => Err(self.invalid("must not be empty (use OPERATOR_IS_NOT_SET for empty fields)")),
            Kind::Text(t) if t.chars().count() > MAX_TEXT_CHARS => Err(self.invalid(format!("must be at most {MAX_TEXT_CHARS} characters"))),
            Kind::Text(t) => Ok(t),
            _ => Err(self.invalid(format!("{} needs a text (value.text)", self.op.as_str_name()))),
        }
    }

    /// Texts, lowercased (comparisons are case-insensitive) and deduplicated.
    fn texts(&self) -> Result<Vec<String>, ConditionError> {
        match self.kind(self.value, self.value_path(), "texts (value.texts)")? {
            Kind::Texts(list) => {
                if list.values.is_empty() {
                    return Err(self.invalid("must list at least one value"));
                }
                if list.values.len() > MAX_LIST_VALUES {
                    return Err(self.invalid(format!("must list at most {MAX_LIST_VALUES} values")));
                }
                let mut out: Vec<String> = Vec::with_capacity(list.values.len());
                for (i, v) in list.values.iter().enumerate() {
                    let v = v.trim().to_lowercase();
                    if v.is_empty() || v.chars().count() > MAX_TEXT_CHARS {
                        return Err(ConditionError::new(
                            format!("{}.texts.values[{i}]", self.value_path()),
                            format!("must be 1 to {MAX_TEXT_CHARS} characters"),
                        ));
                    }
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                Ok(out)
            }
            _ => Err(self.invalid(format!("{} needs texts (value.texts)", self.op.as_str_name()))),
        }
    }

    fn flag(&self) -> Result<bool, ConditionError> {
        match self.kind(self.value, self.value_path(), "a flag (value.flag)")? {
            Kind::Flag(b) => Ok(b),
            _ => Err(self.invalid(format!("{} needs a flag (value.flag)", self.op.as_str_name()))),
        }
    }

    fn days(&self) -> Result<i64, ConditionError> {
        match self.kind(self.value, self.value_path(), "a number of days (value.days)")? {
            Kind::Days(d) if (1..=MAX_DAYS).contains(&d) => Ok(d),
            Kind::Days(_) => Err(self.invalid(format!("must be between 1 and {MAX_DAYS} days"))),
            _ => Err(self.invalid(format!("{} needs a number of days (value.days)", self.op.as_str_name()))),
        }
    }

    fn when_at(&self, value: Option<&pb::Value>, path: String) -> Result<When, ConditionError> {
        let expected = "a date (value.date, YYYY-MM-DD) or an instant (value.timestamp)";
        match self.kind(value, path.clone(), expected)? {
            Kind::Date(text) => NaiveDate::parse_from_str(&text, "%Y-%m-%d").map(When::Day).map_err(|_| ConditionError::new(path, "must be a date YYYY-MM-DD")),
            Kind::Timestamp(ts) => {
                let at = chrono::DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32)
                    .ok_or_else(|| ConditionError::new(&path, "is not a valid timestamp"))?;
                // Columns hold wall time of the reporting zone (DESIGN §3).
                Ok(When::At(at.with_timezone(&self.options.tz).naive_local()))
            }
            _ => Err(ConditionError::new(path, format!("{} needs {expected}", self.op.as_str_name()))),
        }
    }

    fn cohort_id(&self) -> Result<i64, ConditionError> {
        match self.kind(self.value, self.value_path(), "a cohort id (value.cohort_id)")? {
            Kind::CohortId(id) if id > 0 => Ok(id),
            Kind::CohortId(_) => Err(self.invalid("must be a positive cohort id")),
            _ => Err(self.invalid(format!("{} needs a cohort id (value.cohort_id)", self.op.as_str_name()))),
        }
    }

    fn amplitude_cohort_id(&self) -> Result<String, ConditionError> {
        match self.kind(self.value, self.value_path(), "an Amplitude cohort id (value.amplitude_cohort_id)")? {
            Kind::AmplitudeCohortId(id) if !id.trim().is_empty() && id.len() <= 200 => Ok(id.trim().to_string()),
            Kind::AmplitudeCohortId(_) => Err(self.invalid("must be 1 to 200 characters")),
            _ => Err(self.invalid(format!("{} needs an Amplitude cohort id (value.amplitude_cohort_id)", self.op.as_str_name()))),
        }
    }
}

/// `expr <op> $value` with the expression parenthesised.
fn compare(expr: &str, op: &str, value: BindValue) -> Sql {
    let mut sql = Sql::new(&format!("({expr}) {op} "));
    sql.push_bind(value);
    sql
}

fn and(left: Sql, right: Sql) -> Sql {
    let mut sql = Sql::new("(");
    sql.append(&left).push(" AND ").append(&right).push(")");
    sql
}

fn is_set(expr: &str, set: bool) -> Sql {
    Sql::new(&format!("({expr}) IS {}NULL", if set { "NOT " } else { "" }))
}

fn show_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}

fn number_condition(field: &Field, o: &Operands) -> Result<(Sql, String), ConditionError> {
    let e = field.expr.as_str();
    let integer = field.storage == Storage::Integer;
    // Integer columns compare with integer binds (so their indexes apply): x > 10.5 ⇔ x > 10.
    let floor = |n: f64| BindValue::Int8(n.floor() as i64);
    let ceil = |n: f64| BindValue::Int8(n.ceil() as i64);
    let exact = |n: f64| if integer { BindValue::Int8(n as i64) } else { BindValue::Float8(n) };
    Ok(match o.op {
        Op::Equals | Op::NotEquals => {
            let n = o.number()?;
            let negate = o.op == Op::NotEquals;
            let sql = if integer && n.fract() != 0.0 {
                // No integer equals 10.5.
                if negate { is_set(e, true) } else { Sql::new("FALSE") }
            } else {
                compare(e, if negate { "<>" } else { "=" }, exact(n))
            };
            (sql, show_number(n))
        }
        Op::GreaterThan | Op::GreaterOrEqual | Op::LessThan | Op::LessOrEqual => {
            let n = o.number()?;
            let (sql_op, bind) = match (o.op, integer) {
                (Op::GreaterThan, true) => (">", floor(n)),
                (Op::GreaterOrEqual, true) => (">=", ceil(n)),
                (Op::LessThan, true) => ("<", ceil(n)),
                (Op::LessOrEqual, true) => ("<=", floor(n)),
                (Op::GreaterThan, false) => (">", BindValue::Float8(n)),
                (Op::GreaterOrEqual, false) => (">=", BindValue::Float8(n)),
                (Op::LessThan, false) => ("<", BindValue::Float8(n)),
                _ => ("<=", BindValue::Float8(n)),
            };
            (compare(e, sql_op, bind), show_number(n))
        }
        Op::Between => {
            let low = o.number()?;
            let high = o.number_at(o.value_to, o.value_to_path())?;
            if high < low {
                return Err(ConditionError::new(o.value_to_path(), "must not be less than value"));
            }
            let (lo, hi) = if integer { (ceil(low), floor(high)) } else { (BindValue::Float8(low), BindValue::Float8(high)) };
            (and(compare(e, ">=", lo), compare(e, "<=", hi)), format!("{} and {}", show_number(low), show_number(high)))
        }
        Op::In | Op::NotIn => {
            let numbers = o.numbers()?;
            let shown = numbers.iter().map(|n| show_number(*n)).collect::<Vec<_>>().join(", ");
            let bind = if integer {
                BindValue::Int8Array(numbers.iter().filter(|n| n.fract() == 0.0).map(|n| *n as i64).collect())
            } else {
                BindValue::Float8Array(numbers)
            };
            let mut sql = Sql::new(&format!("({e}) {} (", if o.op == Op::In { "= ANY" } else { "<> ALL" }));
            sql.push_bind(bind).push(")");
            // NOT IN never matches a null field.
            let sql = if o.op == Op::NotIn { and(is_set(e, true), sql) } else { sql };
            (sql, format!("[{shown}]"))
        }
        Op::IsSet | Op::IsNotSet => (is_set(e, o.op == Op::IsSet), String::new()),
        other => return Err(unsupported(o, other)),
    })
}

fn text_condition(field: &Field, o: &Operands) -> Result<(Sql, String), ConditionError> {
    let e = field.expr.as_str();
    let enumerated = field.storage == Storage::Enum;
    let check_known = |values: &[String]| -> Result<(), ConditionError> {
        if let Some(bad) = values.iter().find(|v| enumerated && !field.fixed_values.contains(&v.as_str())) {
            return Err(o.invalid(format!("{bad:?} is not a {}; use one of {}", field.name, field.fixed_values.join(", "))));
        }
        Ok(())
    };
    // Enum values are stored lowercase; free text compares case-insensitively.
    let lowered = if enumerated { e.to_string() } else { format!("lower({e})") };
    Ok(match o.op {
        Op::Equals | Op::NotEquals => {
            let text = o.text()?.to_lowercase();
            check_known(std::slice::from_ref(&text))?;
            (compare(&lowered, if o.op == Op::Equals { "=" } else { "<>" }, BindValue::Text(text.clone())), format!("{text:?}"))
        }
        Op::Contains | Op::NotContains | Op::StartsWith => {
            let text = o.text()?;
            let escaped = escape_like(&text);
            let pattern = if o.op == Op::StartsWith { format!("{escaped}%") } else { format!("%{escaped}%") };
            (compare(e, if o.op == Op::NotContains { "NOT ILIKE" } else { "ILIKE" }, BindValue::Text(pattern)), format!("{text:?}"))
        }
        Op::In | Op::NotIn => {
            let texts = o.texts()?;
            check_known(&texts)?;
            let shown = format!("[{}]", texts.join(", "));
            let mut sql = Sql::new(&format!("({lowered}) {} (", if o.op == Op::In { "= ANY" } else { "<> ALL" }));
            sql.push_bind(BindValue::TextArray(texts)).push(")");
            let sql = if o.op == Op::NotIn { and(is_set(e, true), sql) } else { sql };
            (sql, shown)
        }
        Op::IsSet => (Sql::new(&format!("coalesce({e}, '') <> ''")), String::new()),
        Op::IsNotSet => (Sql::new(&format!("coalesce({e}, '') = ''")), String::new()),
        other => return Err(unsupported(o, other)),
    })
}

fn list_condition(field: &Field, o: &Operands) -> Result<(Sql, String), ConditionError> {
    let e = field.expr.as_str();
    // The comma-separated columns hold lowercase slugs without spaces (DESIGN §3).
    let array = if field.storage == Storage::CommaList { format!("coalesce(string_to_array({e}, ','), '{{}}'::text[])") } else { e.to_string() };
    Ok(match o.op {
        Op::ContainsAny | Op::ContainsAll | Op::ContainsNone => {
            let texts = o.texts()?;
            let shown = format!("[{}]", texts.join(", "));
            let (prefix, op) = match o.op {
                Op::ContainsAny => ("", "&&"),
                Op::ContainsAll => ("", "@>"),
                _ => ("NOT ", "&&"),
            };
            let mut sql = Sql::new(&format!("{prefix}({array} {op} "));
            sql.push_bind(BindValue::TextArray(texts)).push(")");
            (sql, shown)
        }
        Op::IsSet => (Sql::new(&format!("cardinality({array}) > 0")), String::new()),
        Op::IsNotSet => (Sql::new(&format!("cardinality({array}) = 0")), String::new()),
        other => return Err(unsupported(o, other)),
    })
}

fn time_condition(field: &Field, o: &Operands) -> Result<(Sql, String), ConditionError> {
    let e = field.expr.as_str();
    let date_column = field.storage == Storage::Date;
    // The first instant of a day, typed like the column (day boundaries of the reporting zone).
    let start_of = |day: NaiveDate| if date_column { BindValue::Date(day) } else { BindValue::Timestamp(day.and_time(chrono::NaiveTime::MIN)) };
    let next_day = |day: NaiveDate, path: String| day.checked_add_days(Days::new(1)).ok_or_else(|| ConditionError::new(path, "is out of range"));
    let today = o.options.today;
    let shown = |w: When| match w {
        When::Day(d) => d.to_string(),
        When::At(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
    };
    Ok(match o.op {
        Op::WithinLastDays => {
            let days = o.days()?;
            // Today counts as one of the N days; future values do not match.
            let first = today.checked_sub_days(Days::new(days as u64 - 1)).ok_or_else(|| o.invalid("is out of range"))?;
            let end = next_day(today, o.value_path())?;
            (and(compare(e, ">=", start_of(first)), compare(e, "<", start_of(end))), format!("{days} days"))
        }
        Op::MoreThanDaysAgo => {
            let days = o.days()?;
            // More than N days ago: on a day before today − N.
            let cutoff = today.checked_sub_days(Days::new(days as u64)).ok_or_else(|| o.invalid("is out of range"))?;
            (compare(e, "<", start_of(cutoff)), format!("{days} days ago"))
        }
        Op::Before => {
            let when = o.when_at(o.value, o.value_path())?;
            let bind = match when {
                When::Day(d) => start_of(d),
                When::At(t) => BindValue::Timestamp(t),
            };
            (compare(e, "<", bind), shown(when))
        }
        Op::After => {
            let when = o.when_at(o.value, o.value_path())?;
            let sql = match when {
                When::Day(d) => compare(e, ">=", start_of(next_day(d, o.value_path())?)),
                When::At(t) => compare(e, ">", BindValue::Timestamp(t)),
            };
            (sql, shown(when))
        }
        Op::Equals => {
            let when = o.when_at(o.value, o.value_path())?;
            let sql = match when {
                When::Day(d) => and(compare(e, ">=", start_of(d)), compare(e, "<", start_of(next_day(d, o.value_path())?))),
                When::At(t) => compare(e, "=", BindValue::Timestamp(t)),
            };
            (sql, shown(when))
        }
        Op::Between => {
            let from = o.when_at(o.value, o.value_path())?;
            let to = o.when_at(o.value_to, o.value_to_path())?;
            let sql = match (from, to) {
                (When::Day(a), When::Day(b)) if b >= a => and(compare(e, ">=", start_of(a)), compare(e, "<", start_of(next_day(b, o.value_to_path())?))),
                (When::At(a), When::At(b)) if b >= a => and(compare(e, ">=", BindValue::Timestamp(a)), compare(e, "<=", BindValue::Timestamp(b))),
                (When::Day(_), When::Day(_)) | (When::At(_), When::At(_)) => return Err(ConditionError::new(o.value_to_path(), "must not be before value")),
                _ => return Err(ConditionError::new(o.value_to_path(), "must be of the same kind as value (both dates or both timestamps)")),
            };
            (sql, format!("{} and {}", shown(from), shown(to)))
        }
        Op::IsSet | Op::IsNotSet => (is_set(e, o.op == Op::IsSet), String::new()),
        other => return Err(unsupported(o, other)),
    })
}

fn flag_condition(field: &Field, o: &Operands) -> Result<(Sql, String), ConditionError> {
    // 0/1 integer columns read as booleans; a null flag matches neither value.
    let e = if field.storage == Storage::IntFlag { format!("({}) <> 0", field.expr) } else { field.expr.clone() };
    Ok(match o.op {
        Op::Equals | Op::NotEquals => {
            let flag = o.flag()?;
            (compare(&e, if o.op == Op::Equals { "=" } else { "<>" }, BindValue::Bool(flag)), flag.to_string())
        }
        Op::IsSet | Op::IsNotSet => (is_set(&field.expr, o.op == Op::IsSet), String::new()),
        other => return Err(unsupported(o, other)),
    })
}

fn unsupported(o: &Operands, op: Op) -> ConditionError {
    ConditionError::new(format!("{}.operator", o.path), format!("{} is not supported here", op.as_str_name()))
}

/// Escapes `%`, `_` and `\` so a user's text matches literally in (I)LIKE.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn operator_words(op: Op) -> &'static str {
    match op {
        Op::Unspecified => "?",
        Op::Equals => "=",
        Op::NotEquals => "≠",
        Op::GreaterThan => ">",
        Op::GreaterOrEqual => "≥",
        Op::LessThan => "<",
        Op::LessOrEqual => "≤",
        Op::Between => "between",
        Op::Contains => "contains",
        Op::NotContains => "does not contain",
        Op::StartsWith => "starts with",
        Op::In => "in",
        Op::NotIn => "not in",
        Op::ContainsAny => "contains any of",
        Op::ContainsAll => "contains all of",
        Op::ContainsNone => "contains none of",
        Op::Before => "before",
        Op::After => "after",
        Op::WithinLastDays => "within the last",
        Op::MoreThanDaysAgo => "more than",
        Op::IsSet => "is set",
        Op::IsNotSet => "is not set",
        Op::InCohort => "in cohort",
        Op::NotInCohort => "not in cohort",
        Op::InAmplitudeCohort => "in Amplitude cohort",
        Op::NotInAmplitudeCohort => "not in Amplitude cohort",
    }
}
