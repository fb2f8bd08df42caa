//! `cart`: how long carts live and how much they may hold.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CartSettings {
    /// Lifetime of a cart (s), renewed by every write; a cart past it answers 1002.
    pub ttl_secs: u64,
    /// Distinct items (program + plan) one cart may hold; one more -> 1005.
    pub max_items: u32,
    /// Largest quantity of one item; more (or less than 1) -> 1006.
    pub max_quantity: u32,
    /// Analytics events kept per cart (the oldest are dropped), so a client cannot grow
    /// a row without bound.
    pub max_analytics_events: u32,
}

impl Default for CartSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 24 * 60 * 60,
            max_items: 10,
            max_quantity: 5,
            max_analytics_events: 50,
        }
    }
}

impl CartSettings {
    pub fn ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.ttl_secs).unwrap_or(i64::MAX / 1000))
    }
}
