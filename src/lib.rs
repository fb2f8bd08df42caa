//! checkout: the checkout and enrollment backend of an internship platform.
//!
//! Students put paid internship programs in a cart, apply a coupon, see an exact GST
//! breakdown, pay through Razorpay (Stripe as fallback) and are enrolled in a cohort
//! with limited seats. Every step after the order is a durable job in Postgres.
//!
//! # Layers
//!
//! Modules import one way: a module uses only modules of its own level or below, never
//! one above (`tests/it/layers.rs` reads every `crate::` path and fails otherwise; test
//! code is exempt). From the bottom:
//!
//! 1. [`domain`] (pure rules, no I/O: money, GST, coupons, sales, FX, the pricing engine,
//!    order states, the error codes in [`domain::codes`]); [`config`] (typed settings, one
//!    file per section, defaults -> file -> `CHECKOUT__*` env); [`telemetry`] (logs,
//!    metrics, the correlation id); [`shutdown`] (the one shutdown signal); [`server`]
//!    (the HTTP accept loop every port runs).
//! 2. [`store`] (sqlx access per aggregate; functions take a connection or transaction)
//!    and [`gateways`] (the `Gateway` trait, Razorpay and Stripe clients, webhook
//!    verification, circuit breakers and failover). Siblings: neither imports the other.
//!    [`documents`] (pure: an issued invoice or credit note as HTML, PDF, e-invoice JSON
//!    and GSTR-1 rows).
//! 3. [`workers`] (a generic job runtime on apalis-postgres: it runs the handler it is
//!    given and knows no workflow), [`carts`] (cart operations over the store and the
//!    pricing engine), [`auth`] (accounts and tokens), [`health`] (the readiness rule
//!    and the metrics text, below the API), [`webhooks_out`] (signing, the address check
//!    and the sender of webhook deliveries to subscribed endpoints).
//! 4. [`workflows`]: the checkout saga (steps, compensation), webhook deliveries, job
//!    kinds and dispatch ([`workflows::jobs`]), every job key ([`workflows::keys`]), cron
//!    jobs and the scheduler's leadership; [`relay`] (publishes the outbox to RabbitMQ
//!    and makes the webhook deliveries of what it published).
//! 5. [`api`] (`routes/` one file per resource, `layers/` the wiring), [`admin`]
//!    (`checkout admin ...`), [`sandbox`] (a local gateway speaking both APIs),
//!    [`storefront`] (the demo shop `dev` serves), [`loadtest`] (the load and chaos
//!    harness).
//! 6. [`cli`] and [`roles`]: the binary's roles; `main.rs` parses and calls one.

pub mod admin;
pub mod api;
pub mod auth;
pub mod carts;
pub mod cli;
pub mod config;
pub mod documents;
pub mod domain;
pub mod gateways;
pub mod health;
pub mod loadtest;
pub mod relay;
pub mod roles;
pub mod sandbox;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod storefront;
pub mod telemetry;
pub mod webhooks_out;
pub mod workers;
pub mod workflows;
