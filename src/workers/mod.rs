//! The worker runtime on apalis-postgres.
//!
//! apalis 1.0 on Postgres is at-least-once and has sharp edges we design around (see
//! DESIGN.md): acks are written asynchronously, so a step can run twice; a failed job is
//! refetched at once; an idle worker only wakes on its 30 s heartbeat unless told to; one
//! database error ends a worker. So this module:
//! - enqueues inside the caller's transaction with an idempotency key ([`queue`]);
//! - wakes workers on LISTEN/NOTIFY *and* a short timer, draining both ([`wake`]), and
//!   fetches only after such a wake-up, each fetch and ack one statement ([`backend`]);
//! - names workers uniquely per process and generation, sets heartbeat, orphan timeout and
//!   a per-job timeout explicitly, and restarts a worker whose backend died ([`runtime`]).
//!
//! Jobs are one serde enum, [`Job`], dispatched by [`jobs::handle`]; each kind has its
//! own queue so a backlog of one kind cannot starve another.

mod backend;
pub mod jobs;
pub mod queue;
pub mod runtime;
pub mod wake;

pub use jobs::Job;
pub use queue::{EnqueueOptions, enqueue};
