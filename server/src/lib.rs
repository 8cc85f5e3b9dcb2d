//! The CDP server: one binary (`cdp`) that serves the gRPC / grpc-web API and the web client,
//! runs the job worker, applies migrations and seeds demo data. See docs/architecture.md.

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod convert;
pub mod db;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod schema;
pub mod server;
pub mod telemetry;
pub mod web;
pub mod worker;
