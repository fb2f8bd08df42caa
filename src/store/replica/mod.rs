//! Routed reads: a [`Reader`] is the handle for the reads that tolerate a little
//! staleness (the catalog, coupon listings, admin listings and reports). It sends them
//! to the streaming replica of `database.replica_url` while that replica is healthy, and
//! to the primary otherwise; everything else takes the primary's `PgPool` as before. The
//! choice is made at the call site by the type it takes, never guessed at run time:
//! a caller's own data (carts, orders, enrollments, sessions), every read inside a
//! transaction, the pricing reads of order creation and the saga, and LISTEN stay on the
//! primary, which keeps read-your-writes across stateless processes without carrying
//! positions between them (docs/architecture.md, "Where reads go").
//!
//! Health ([`health`]): a sampler compares the replica's replay position with the
//! primary's once a second; a replica that is down, not a standby, or further behind
//! than `database.replica_max_lag_ms` is bypassed until it is healthy again. A read
//! that fails on the replica because the replica went away is run again on the primary.

mod health;
mod lag;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::config::DatabaseSettings;

pub use health::SAMPLE_EVERY;

/// The pool for staleness-tolerant reads: the replica while it is healthy, else the
/// primary. Cheap to clone.
#[derive(Clone)]
pub struct Reader {
    primary: PgPool,
    replica: Option<Arc<Replica>>,
}

/// The replica's pool and what the sampler last found.
struct Replica {
    pool: PgPool,
    max_lag: Duration,
    status: Mutex<Status>,
}

/// What routed reads do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// No replica configured: every read on the primary.
    Off,
    /// Configured, not sampled yet: reads on the primary until the first sample.
    Starting,
    /// Healthy: routed reads go to the replica, which was `lag` behind at the last sample.
    Serving { lag: Duration },
    /// Bypassed: routed reads go to the primary.
    Bypassed(Bypass),
}

/// Why the replica is bypassed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bypass {
    /// It did not answer (stopped, unreachable, the database not there yet).
    Unreachable,
    /// It answers but is not in recovery: promoted, or not a replica at all.
    NotStandby,
    /// Further behind than `database.replica_max_lag_ms`, or behind the first sample
    /// (`None`: by a time not known yet).
    Lagging { lag: Option<Duration> },
}

impl Status {
    /// Whether routed reads go to the replica.
    pub fn serving(&self) -> bool {
        matches!(self, Status::Serving { .. })
    }
}

impl Reader {
    /// Every read on `primary`: no replica configured, or a role that has none.
    pub fn primary_only(primary: PgPool) -> Self {
        Reader {
            primary,
            replica: None,
        }
    }

    /// A reader over `primary` and, when `database.replica_url` is set, a lazy pool on
    /// the replica. Reads stay on the primary until a sample ([`Reader::spawn_sampler`]
    /// or [`Reader::sample_now`]) finds the replica healthy.
    pub fn new(primary: PgPool, settings: &DatabaseSettings) -> anyhow::Result<Self> {
        use secrecy::ExposeSecret;
        let Some(url) = &settings.replica_url else {
            return Ok(Self::primary_only(primary));
        };
        let replica_settings = DatabaseSettings {
            max_connections: settings.replica_max_connections,
            acquire_timeout_ms: settings.replica_acquire_timeout_ms,
            ..settings.clone()
        };
        let pool = super::pool(url.expose_secret(), &replica_settings)?;
        Ok(Reader {
            primary,
            replica: Some(Arc::new(Replica {
                pool,
                max_lag: Duration::from_millis(settings.replica_max_lag_ms),
                status: Mutex::new(Status::Starting),
            })),
        })
    }

    /// The primary's pool, for the callers that hold a reader and must read their own
    /// writes.
    pub fn primary(&self) -> &PgPool {
        &self.primary
    }

    /// What routed reads do now.
    pub fn status(&self) -> Status {
        match &self.replica {
            None => Status::Off,
            Some(r) => r.status(),
        }
    }

    /// Samples the replica's health every [`SAMPLE_EVERY`] until `shutdown`, or until
    /// every clone of this reader is dropped.
    pub fn spawn_sampler(&self, shutdown: CancellationToken) {
        if let Some(replica) = &self.replica {
            tokio::spawn(health::run(
                Arc::downgrade(replica),
                self.primary.clone(),
                shutdown,
            ));
        }
    }

    /// One sample now (a short-lived process such as `checkout admin` that has no
    /// sampler running).
    pub async fn sample_now(&self) {
        if let Some(replica) = &self.replica {
            health::once(replica, &self.primary, &mut lag::Lsns::default()).await;
        }
    }

    /// Runs `read` on a connection of the replica while it is healthy, else of the
    /// primary. `read` must only read: when the replica fails under it with a
    /// connection-level error (it stopped, restarted, or a replay conflict cancelled
    /// the statement), it runs again on the primary.
    ///
    /// `read` returns a boxed future (`|c| Box::pin(async move { .. })`) that owns what
    /// it captures: an async closure's future cannot be proved `Send` for every
    /// connection lifetime, which an axum handler needs.
    pub async fn read<T: Send>(
        &self,
        mut read: impl for<'c> FnMut(&'c mut PgConnection) -> BoxFuture<'c, sqlx::Result<T>> + Send,
    ) -> sqlx::Result<T> {
        if let Some(replica) = self.replica.as_ref().filter(|r| r.status().serving()) {
            match super::acquire(&replica.pool).await {
                Ok(mut conn) => match read(&mut conn).await {
                    Ok(value) => {
                        routed("replica");
                        return Ok(value);
                    }
                    Err(e) if !replica_gone(&e) => return Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "read failed on the replica; reading the primary")
                    }
                },
                Err(e) => tracing::warn!(error = %e, "no replica connection; reading the primary"),
            }
        }
        let mut conn = super::acquire(&self.primary).await?;
        let value = read(&mut conn).await?;
        routed("primary");
        Ok(value)
    }
}

impl Replica {
    fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn routed(pool: &'static str) {
    metrics::counter!("db_reads_routed_total", "pool" => pool).increment(1);
}

/// The replica, or the way to it, failed the read rather than the read itself: the same
/// read on the primary will do. A statement the server refused counts only for a
/// connection exception (class 08), a shutdown or start-up (57P..), or a statement
/// cancelled for replay (40001, "conflict with recovery", which a read-only statement on
/// a standby gets for no other reason); a row or decoding error would fail the same on
/// the primary.
fn replica_gone(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "40001"),
        E::RowNotFound
        | E::ColumnDecode { .. }
        | E::Decode(_)
        | E::TypeNotFound { .. }
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. } => false,
        // io, TLS, protocol, pool: the replica or the connection to it
        _ => true,
    }
}
