//! What a change of a cohort would affect, and the rules that follow: edits and deletion of
//! the cohort of a live or scheduled promotion need `confirm_audience_change`; a cohort that
//! another cohort's definition refers to cannot be deleted; definitions may not refer to
//! themselves, directly or through other cohorts.

use super::{CohortError, definition, store};
use crate::promotions::{PromotionRef, usage_of_cohort};
use cdp_proto::cdp::v1 as pb;
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Jsonb},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::{HashMap, HashSet};

/// The promotions that use the cohort (not archived), newest first.
pub async fn promotions_using(conn: &mut AsyncPgConnection, cohort_id: i64) -> Result<Vec<PromotionRef>, CohortError> {
    Ok(usage_of_cohort(conn, cohort_id).await?)
}

/// FAILED_PRECONDITION AUDIENCE_CHANGE_NOT_CONFIRMED unless confirmed, when a change of the
/// cohort would change the audience of live or scheduled promotions.
pub fn require_confirmation(promotions: &[PromotionRef], confirmed: bool, what: &str) -> Result<(), CohortError> {
    let guarded: Vec<&PromotionRef> = promotions.iter().filter(|p| p.guarded).collect();
    if guarded.is_empty() || confirmed {
        return Ok(());
    }
    let names: Vec<String> = guarded.iter().map(|p| format!("{:?} ({})", p.name, p.id)).collect();
    Err(CohortError::Precondition {
        reason: "AUDIENCE_CHANGE_NOT_CONFIRMED",
        message: format!("{what} changes the audience of live or scheduled promotions {}; set confirm_audience_change to go ahead", names.join(", ")),
        metadata: vec![("promotion_ids", guarded.iter().map(|p| p.id.to_string()).collect::<Vec<_>>().join(","))],
    })
}

pub fn promotion_usage_to_proto(p: &PromotionRef) -> pb::CohortPromotionUsage {
    pb::CohortPromotionUsage {
        promotion_id: p.id,
        name: p.name.clone(),
        status: p.status.to_proto() as i32,
        audience: p.audience.to_proto() as i32,
        guarded: p.guarded,
    }
}

/// FAILED_PRECONDITION COHORT_REFERENCED while other live cohorts' definitions refer to `id`.
pub async fn ensure_not_referenced(conn: &mut AsyncPgConnection, id: i64) -> Result<(), CohortError> {
    let referring = store::referencing_cohorts(conn, id).await?;
    if referring.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = referring.iter().map(|c| format!("{:?} ({})", c.name, c.id)).collect();
    Err(CohortError::Precondition {
        reason: "COHORT_REFERENCED",
        message: format!("the definitions of cohorts {} refer to this cohort; change them first", names.join(", ")),
        metadata: vec![("cohort_ids", referring.iter().map(|c| c.id.to_string()).collect::<Vec<_>>().join(","))],
    })
}

#[derive(QueryableByName)]
struct StoredDefinition {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Jsonb)]
    definition: serde_json::Value,
}

/// INVALID_ARGUMENT naming the node when `definition` (the new definition of cohort `id`)
/// refers to `id` itself, directly or through the cohorts it refers to.
pub async fn ensure_no_cycle(conn: &mut AsyncPgConnection, id: i64, tree: &pb::ConditionGroup, root: &str) -> Result<(), CohortError> {
    // Each top-level reference is followed through the stored definitions (breadth first).
    for (path, first) in definition::cohort_refs(tree, root) {
        let mut seen: HashSet<i64> = HashSet::new();
        let mut frontier = vec![first];
        while !frontier.is_empty() {
            if frontier.contains(&id) {
                let how = if first == id { "a cohort cannot refer to itself".to_string() } else { format!("cohort {first} refers back to this cohort") };
                return Err(CohortError::invalid(path, how));
            }
            seen.extend(frontier.iter().copied());
            let rows: Vec<StoredDefinition> = sql_query("SELECT id, definition FROM cdp.cohorts WHERE id = ANY($1) AND deleted_at IS NULL")
                .bind::<Array<BigInt>, _>(&frontier)
                .load(conn)
                .await?;
            let stored: HashMap<i64, serde_json::Value> = rows.into_iter().map(|r| (r.id, r.definition)).collect();
            let mut next = Vec::new();
            for def in stored.values() {
                let Ok(group) = definition::from_json(def) else { continue };
                next.extend(definition::cohort_refs(&group, "").into_iter().map(|(_, r)| r).filter(|r| !seen.contains(r)));
            }
            next.sort_unstable();
            next.dedup();
            frontier = next;
        }
    }
    Ok(())
}
