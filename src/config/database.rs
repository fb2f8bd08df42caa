//! `database`: where Postgres is and how many connections a process keeps, and the
//! optional read replica (`replica_*`) that takes the reads which tolerate staleness.

use secrecy::{ExposeSecret, SecretString};
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
    /// A streaming replica of the same cluster for the reads that tolerate a little
    /// staleness (`store::replica` says which). Unset: every read on the primary.
    pub replica_url: Option<SecretString>,
    /// A replica further behind than this is bypassed (reads go to the primary) until it
    /// catches up: the staleness a catalog page may show.
    pub replica_max_lag_ms: u64,
    /// The replica's pool size per process (only the reads routed there use it).
    pub replica_max_connections: u32,
    /// How long a read waits for a replica connection before taking the primary's: short,
    /// so a replica that just went away costs a read little before the health sampler
    /// notices (within a second) and every read goes to the primary.
    pub replica_acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 6,
            acquire_timeout_ms: 5_000,
            replica_url: None,
            replica_max_lag_ms: 1_000,
            replica_max_connections: 4,
            replica_acquire_timeout_ms: 500,
        }
    }
}

impl DatabaseSettings {
    pub(super) fn problems(&self, check: &mut impl FnMut(bool, &str, &str)) {
        check(
            self.max_connections >= 2,
            "database.max_connections",
            "must be at least 2",
        );
        for (key, url) in [
            ("database.url", &self.url),
            ("database.replica_url", &self.replica_url),
        ] {
            if let Some(url) = url {
                let url = url.expose_secret();
                check(
                    url.starts_with("postgres://") || url.starts_with("postgresql://"),
                    key,
                    "must start with postgres:// or postgresql://",
                );
            }
        }
        // the health sampler reads the lag once a second: a smaller limit would bypass a
        // healthy replica on the sampler's own resolution
        check(
            (1_000..=3_600_000).contains(&self.replica_max_lag_ms),
            "database.replica_max_lag_ms",
            "must be between 1000 and 3600000",
        );
        check(
            (1..=1_000).contains(&self.replica_max_connections),
            "database.replica_max_connections",
            "must be between 1 and 1000",
        );
        check(
            (10..=60_000).contains(&self.replica_acquire_timeout_ms),
            "database.replica_acquire_timeout_ms",
            "must be between 10 and 60000",
        );
    }
}
