//! Integration tests: one binary, one module per area. Every test gets its own
//! database on the real Postgres (dropped afterwards) and talks to the app over real
//! sockets; worker tests start real `checkout worker` processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_catalog;
mod admin_ops;
mod api;
mod auth;
mod balancer;
mod cart;
mod cart_auth;
mod catalog;
mod checkout;
mod cli;
mod contract;
mod coupons;
mod dashboards;
mod docs;
mod events;
mod fixtures;
mod gstin;
mod helpers;
mod idempotency;
mod invoices;
mod invoices_admin;
mod job_bench;
mod job_history;
mod layers;
mod ledger;
mod limits;
mod loadtest;
mod metric_counts;
mod metrics;
mod money;
mod ops_fixtures;
mod promql;
mod relay;
mod replica;
mod scaleout;
mod scheduler;
mod shop;
mod storefront;
mod subscriptions;
mod topology;
mod traces;
mod worker;
