//! The Rust integration suite: one binary, one module per capability. Every test gets its own
//! database and Redis prefix, so nextest runs them in parallel.

mod activation;
mod admin;
mod auth;
mod cohort_sync;
mod cohorts;
mod conditions;
mod dashboard;
mod docs;
mod foundation;
mod integrations;
mod jobs;
mod jwks;
mod promotions;
mod redemption;
mod seed;
mod supabase;
mod users;
