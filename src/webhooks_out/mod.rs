//! Outgoing webhooks: the events delivered to the endpoints operators subscribe
//! (docs/events.md, "Webhook subscriptions"), signed per the Standard Webhooks
//! specification ([`sign`]), sent only to public addresses checked after DNS resolution
//! ([`target`]) by a client that follows no redirect and reads a short answer
//! ([`send`]).
//!
//! The relay creates the deliveries ([`crate::store::subscriptions::create_deliveries`])
//! and enqueues each one's first attempt in the transaction that marks the events
//! published; the attempts, their record and the retry schedule live in
//! `workflows::deliveries`.

pub mod send;
pub mod sign;
pub mod target;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Bytes of key in a new secret.
const SECRET_BYTES: usize = 32;

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let key: [u8; SECRET_BYTES] = rand::random();
    format!("{}{}", sign::SECRET_PREFIX, STANDARD.encode(key))
}
