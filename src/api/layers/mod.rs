//! What every request goes through before and after a handler (the order is in
//! [`crate::api::router`]'s `with_layers`): the client's address and route group, header
//! limits, security headers and CORS, correlation ids, rate limits, authentication
//! (`bearer`, `caller`), card-data refusal, idempotency keys, request extraction, the
//! envelope, and the one error enum with its mapping of domain errors.

pub mod bearer;
pub mod caller;
pub mod card;
pub mod correlation;
pub mod domain_errors;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod groups;
pub mod guard;
pub mod idempotency;
pub mod middleware;
pub mod ratelimit;
pub mod security;
