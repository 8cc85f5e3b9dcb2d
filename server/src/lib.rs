//! The CDP server: one binary (`cdp`) that serves the gRPC / grpc-web API and the web client,
//! runs the job worker, applies migrations and seeds demo data. See docs/architecture.md.

pub mod activation;
pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cohorts;
pub mod conditions;
pub mod config;
pub mod convert;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod integrations;
pub mod jobs;
pub mod metrics;
pub mod promotions;
pub mod redemption;
pub mod schema;
pub mod seed;
pub mod server;
pub mod telemetry;
pub mod users;
pub mod web;
pub mod worker;
