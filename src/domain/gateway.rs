//! Which payment gateway: a name stored beside every session and refund, and the
//! failover order's vocabulary.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which gateway served a call. Stored next to every session so refunds and
/// reconciliation go back to the gateway that took the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    Razorpay,
    Stripe,
}

impl GatewayKind {
    pub const ALL: [GatewayKind; 2] = [GatewayKind::Razorpay, GatewayKind::Stripe];

    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::Razorpay => "razorpay",
            GatewayKind::Stripe => "stripe",
        }
    }
}

impl fmt::Display for GatewayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GatewayKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "razorpay" => Ok(GatewayKind::Razorpay),
            "stripe" => Ok(GatewayKind::Stripe),
            other => Err(format!(
                "unknown gateway `{other}` (known: razorpay, stripe)"
            )),
        }
    }
}
