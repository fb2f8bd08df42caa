//! `security`: response headers that depend on how the API is deployed.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Sends `Strict-Transport-Security: max-age=N; includeSubDomains` when set. Only set
    /// it when the API is reached over HTTPS exclusively.
    pub hsts_max_age_secs: Option<u64>,
}
