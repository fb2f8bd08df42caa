//! The pool as metrics see it. sqlx 0.9 tells a pool's size and idle connections but
//! not how many tasks wait for one, nor how long they waited, so:
//! - [`acquire`] and [`begin`] take a connection from the pool as sqlx does, counting
//!   themselves in `db_pool_waiters` while they wait and recording the wait in
//!   `db_pool_acquire_seconds`. The paths of a checkout (saga steps, compensation,
//!   refunds, order creation, webhook intake, cart writes) take their connections
//!   through them; a statement run on the pool directly (`fetch_one(&pool)`) is not
//!   counted.
//! - [`sample`] sets `db_pool_connections{state}` and `db_pool_max_connections`
//!   periodically and times one probe acquire per period, so the acquire latency is
//!   known in every role, busy or not.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

use crate::shutdown::Ticks;

/// Tasks of this process inside [`acquire`] or [`begin`], not yet served.
static WAITING: AtomicI64 = AtomicI64::new(0);

/// One waiter, counted from creation until dropped (served, failed or cancelled).
struct Waiting(Instant);

impl Waiting {
    fn start() -> Self {
        let now = WAITING.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("db_pool_waiters").set(now as f64);
        Waiting(Instant::now())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let now = WAITING.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("db_pool_waiters").set(now as f64);
        metrics::histogram!("db_pool_acquire_seconds").record(self.0.elapsed().as_secs_f64());
    }
}

/// A connection from `pool`, its wait counted.
pub async fn acquire(pool: &PgPool) -> sqlx::Result<PoolConnection<Postgres>> {
    let _waiting = Waiting::start();
    pool.acquire().await
}

/// A transaction on a connection from `pool`, its wait counted (with the `BEGIN`, which
/// sqlx sends with the acquire).
pub async fn begin(pool: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    let _waiting = Waiting::start();
    pool.begin().await
}

/// Until `shutdown`, every `every`: the pool's connections by state and its maximum,
/// and one probe [`acquire`] (returned at once).
pub async fn sample(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    metrics::gauge!("db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
    metrics::gauge!("db_pool_waiters").set(WAITING.load(Ordering::Relaxed) as f64);
    let mut ticks = Ticks::new(every, shutdown.clone());
    while ticks.next().await {
        let size = pool.size() as usize;
        let idle = pool.num_idle().min(size);
        metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
        metrics::gauge!("db_pool_connections", "state" => "in_use").set((size - idle) as f64);
        // bounded, so a pool that cannot connect does not stack probes
        let probe = tokio::time::timeout(every.max(Duration::from_secs(1)), acquire(&pool));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = probe => {}
        }
    }
}
