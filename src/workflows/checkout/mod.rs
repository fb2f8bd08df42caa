//! The durable checkout saga.
//!
//! `POST /api/v1/order` creates the order, its saga row (at `price`) and the first job
//! in one transaction. Each step is then a job on `checkout.steps`:
//!
//! `price` (freeze the snapshot) -> `reserve` (hold seats, use the coupon) ->
//! `payment_session` (create the gateway session, fail over between gateways) ->
//! `confirm` (woken by a webhook, the signed client callback, reconciliation or the
//! session's expiry) -> `enroll` -> `complete`.
//!
//! # Exactly-once in effect on an at-least-once runner
//! - A step locks the order and saga rows, checks the saga is still at that step (a
//!   duplicate or late job finds it moved on and is skipped), does its database work,
//!   advances the saga and enqueues the next step (idempotency key `{order}:{step}`)
//!   in one transaction.
//! - Side effects outside the database carry idempotency keys derived from the order
//!   and step (gateway sessions, refunds), and their results are recorded under the
//!   same lock with `on conflict do nothing`.
//! - A transient failure is a new job with a later `run_at` (exponential backoff with
//!   jitter; attempts in the saga row); past `checkout.step_max_attempts` the order
//!   fails and is compensated. apalis' own instant retries are never relied on.
//! - A permanent failure rolls the step back, moves the order to its terminal status
//!   and enqueues the compensation job ([`compensate`]), which releases holds, gives
//!   the coupon back, cancels gateway sessions, refunds captured money and reopens the
//!   cart, each part idempotent.

pub mod capture;
pub mod changes;
pub mod compensate;
pub mod confirm;
pub mod fulfil;
pub mod intake;
pub mod orders;
pub mod prepare;
pub mod reconcile;
pub mod refunds;
pub mod runner;
pub mod session;
mod trace;

pub use runner::{Failure, Outcome, StepError, run_step};
