//! A LISTEN connection that outlives database restarts: one per channel per process,
//! outside the work pool.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio_util::sync::{CancellationToken, DropGuard};

/// What the connection heard.
pub enum Heard<'a> {
    /// A notification's payload.
    Payload(&'a str),
    /// The connection is (re)established: notifications sent while it was down are
    /// lost, so whoever waits on this channel must look again.
    Reconnected,
}

/// LISTENs on `channel` until `shutdown`, reconnecting with backoff (100 ms doubling to
/// 5 s), and hands every notification to `on`.
pub async fn listen(
    pool: PgPool,
    channel: &'static str,
    shutdown: CancellationToken,
    mut on: impl FnMut(Heard<'_>),
) {
    // Its own connection, not one of the pool's: a listener holds its connection for
    // the life of the process, and the pool is sized for work (`database.max_connections`).
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&own).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let listener = tokio::select! {
            _ = shutdown.cancelled() => return,
            l = connected => l,
        };
        let mut listener = match listener {
            Ok(l) => {
                tracing::debug!(channel, "listening");
                backoff = Duration::from_millis(100);
                on(Heard::Reconnected);
                l
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "cannot LISTEN; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return,
                n = listener.try_recv() => n,
            };
            match next {
                Ok(Some(n)) => on(Heard::Payload(n.payload())),
                // the connection dropped; PgListener reconnects on the next call
                Ok(None) => {
                    tracing::warn!(channel, "LISTEN connection lost; reconnecting");
                    on(Heard::Reconnected);
                }
                Err(e) => {
                    tracing::warn!(channel, error = %e, "LISTEN failed; reconnecting");
                    break;
                }
            }
        }
    }
}

/// Runs [`listen`] on `channel` for `owner`, a process-wide memory fed by
/// notifications: `on` gets the owner while it lives. Keep the returned guard inside
/// the owner: dropping the owner drops the guard, which ends the listener (the task
/// holds only a weak reference, so it never keeps its owner alive). `None` outside a
/// tokio runtime: nothing is listened to.
pub fn listen_for<T: Send + Sync + 'static>(
    pool: &PgPool,
    channel: &'static str,
    owner: &Arc<T>,
    on: impl Fn(Arc<T>, Heard<'_>) + Send + 'static,
) -> Option<DropGuard> {
    tokio::runtime::Handle::try_current().ok()?;
    let owner = Arc::downgrade(owner);
    let stop = CancellationToken::new();
    tokio::spawn(listen(pool.clone(), channel, stop.clone(), move |heard| {
        if let Some(owner) = owner.upgrade() {
            on(owner, heard);
        }
    }));
    Some(stop.drop_guard())
}
