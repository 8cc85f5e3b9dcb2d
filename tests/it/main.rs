//! The Rust integration suite: one binary, one module per capability. Every test gets its own
//! database and Redis prefix, so nextest runs them in parallel.

mod admin;
mod auth;
mod docs;
mod foundation;
mod jobs;
mod jwks;
mod supabase;
