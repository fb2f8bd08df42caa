//! checkout: the checkout and enrollment backend of an internship platform.
//!
//! Students put paid internship programs in a cart, apply a coupon, see an exact GST
//! breakdown, pay through Razorpay (Stripe as fallback) and are enrolled in a cohort
//! with limited seats. Every step after the order is a durable job in Postgres.
//!
//! # Layout
//!
//! - [`config`]: typed settings, defaults -> file -> `CHECKOUT__*` env, validated at start.
//! - [`cli`] and [`roles`]: the binary's roles (`serve`, `worker`, `scheduler`, `migrate`,
//!   `dev`, `admin`); `main.rs` parses and calls one.
//! - [`domain`]: pure rules, no I/O: money, GST, coupons, sales, FX, the pricing engine.
//! - [`api`]: axum routers per resource, the envelope, the one error enum, middleware.
//! - [`carts`]: cart operations over the store and the pricing engine; every cart load
//!   goes through [`carts::load_cart`].
//! - [`admin`]: `checkout admin ...` (catalog import and export, the consistency check).
//! - [`loadtest`]: `checkout loadtest`, the open-loop load and chaos harness (BENCHMARKS.md).
//! - [`api`]: axum routers per resource, the envelope, the one error enum, middleware,
//!   the `Caller` extractor (`api::bearer`).
//! - [`auth`]: accounts and tokens: argon2id passwords, JWT access tokens, rotating
//!   refresh-token sessions, login throttling, external identity providers.
//! - [`store`]: sqlx access per aggregate; functions take a connection or transaction.
//! - [`gateways`]: the `Gateway` trait, Razorpay and Stripe clients, webhook verification,
//!   circuit breakers and failover. [`sandbox`]: a local gateway speaking both APIs.
//! - [`workers`]: the apalis-postgres runtime: job kinds, enqueue, wake-ups, supervision.
//! - [`workflows`]: the checkout saga and cron jobs; scheduler leadership.
//! - [`storefront`]: the demo shop `dev` serves at `/` (static HTML, CSS and JavaScript
//!   over the public API and the sandbox gateway).
//! - [`telemetry`]: tracing and metrics. [`shutdown`]: the one shutdown signal.

pub mod admin;
pub mod api;
pub mod auth;
pub mod carts;
pub mod cli;
pub mod config;
pub mod domain;
pub mod gateways;
pub mod health;
pub mod loadtest;
pub mod roles;
pub mod sandbox;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod storefront;
pub mod telemetry;
pub mod workers;
pub mod workflows;
