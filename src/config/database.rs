//! `database`: where Postgres is and how many connections a process keeps.

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// Postgres URL. Also `DATABASE_URL` or `--database-url`, which win over this key.
    pub url: Option<SecretString>,
    /// Pool size per process (its LISTEN connections come on top, one per channel).
    /// Jobs and requests queue for a connection in the process rather than each holding
    /// one: past a few connections per database core, more backends only take turns on
    /// the cores and on the hot rows, which makes each checkout dearer. Raise it with the
    /// database's cores, not with the workers' concurrency: nothing holds a connection
    /// across a gateway call.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing (ms).
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 6,
            acquire_timeout_ms: 5_000,
        }
    }
}
