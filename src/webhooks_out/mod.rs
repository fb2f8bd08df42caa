//! Outgoing webhooks: the events delivered to the endpoints operators subscribe
//! (docs/events.md, "Webhook subscriptions"), signed per the Standard Webhooks
//! specification ([`sign`]), sent only to public addresses checked after DNS resolution
//! ([`target`]) by a client that follows no redirect and reads a short answer
//! ([`send`]).
//!
//! The relay creates the deliveries ([`crate::store::subscriptions::create_deliveries`])
//! and enqueues a [`DeliveryJob`] for each in the transaction that marks the events
//! published; `workflows::jobs` runs the queue (the attempt, its record and the retry
//! schedule live in `workflows::deliveries`).

pub mod send;
pub mod sign;
pub mod target;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::workers::JobKind;

/// The queue of delivery attempts.
pub const QUEUE: &str = "events.deliveries";

/// One attempt of one delivery, as stored in `apalis.jobs.job`: the same JSON as
/// `workflows::jobs::Job::Deliver` (the tag `type` is `deliver`), which the worker
/// decodes it as. `attempt` is the delivery's attempt count this run expects: a
/// duplicate or superseded run finds it already moved on and does nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "deliver")]
pub struct DeliveryJob {
    pub delivery_id: Uuid,
    pub attempt: i32,
}

impl JobKind for DeliveryJob {
    fn queue(&self) -> &'static str {
        QUEUE
    }
}

/// Bytes of key in a new secret.
const SECRET_BYTES: usize = 32;

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let key: [u8; SECRET_BYTES] = rand::random();
    format!("{}{}", sign::SECRET_PREFIX, STANDARD.encode(key))
}
