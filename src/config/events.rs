//! `events`: the relay that publishes the outbox to RabbitMQ (`checkout relay`).

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSettings {
    /// The broker (`amqp://user:password@host:port/vhost`).
    pub amqp_url: SecretString,
    /// Topic exchange every event is published to, routing key = the event's type.
    pub exchange: String,
    /// Where the example queue sends messages consumers rejected for good.
    pub dead_letter_exchange: String,
    /// A durable queue bound to every event (`#`), declared by the relay for consumers
    /// that want everything; its dead letters go to `dead_letter_queue`.
    pub example_queue: String,
    pub dead_letter_queue: String,
    /// Most events one relay pass takes (whole aggregates: an order's events go together).
    pub batch_size: i64,
    /// Wait before looking again when the outbox is empty (ms).
    pub poll_interval_ms: u64,
    /// Backoff while the broker is unreachable: first wait, doubling to the cap (ms).
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Port of the relay's /healthz, /readyz and /metrics (0 = none).
    pub health_port: u16,
}

impl Default for EventsSettings {
    fn default() -> Self {
        Self {
            amqp_url: SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f"),
            exchange: "checkout.events".into(),
            dead_letter_exchange: "checkout.events.dlx".into(),
            example_queue: "checkout.events.all".into(),
            dead_letter_queue: "checkout.events.dead".into(),
            batch_size: 200,
            poll_interval_ms: 200,
            retry_base_ms: 200,
            retry_max_ms: 10_000,
            health_port: 0,
        }
    }
}

impl EventsSettings {
    pub(super) fn problems(&self) -> Vec<String> {
        use secrecy::ExposeSecret;
        let mut out = Vec::new();
        if !self.amqp_url.expose_secret().starts_with("amqp://")
            && !self.amqp_url.expose_secret().starts_with("amqps://")
        {
            out.push("events.amqp_url: must start with amqp:// or amqps://".into());
        }
        for (key, name) in [
            ("events.exchange", &self.exchange),
            ("events.dead_letter_exchange", &self.dead_letter_exchange),
            ("events.example_queue", &self.example_queue),
            ("events.dead_letter_queue", &self.dead_letter_queue),
        ] {
            if name.is_empty() || name.len() > 255 {
                out.push(format!("{key}: must be 1 to 255 characters"));
            }
        }
        if !(1..=10_000).contains(&self.batch_size) {
            out.push("events.batch_size: must be between 1 and 10000".into());
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            out.push("events.poll_interval_ms: must be between 10 and 60000".into());
        }
        if self.retry_base_ms < 1 || self.retry_max_ms < self.retry_base_ms {
            out.push("events.retry_max_ms: must be at least events.retry_base_ms (>= 1)".into());
        }
        out
    }
}
