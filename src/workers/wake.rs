//! Waking idle workers: LISTEN/NOTIFY plus a short timer, both drained.
//!
//! apalis' own strategies lose wake-ups on Postgres, leaving a new job to wait for the
//! 30 s heartbeat: its interval strategy re-arms a timer without polling it, and its
//! pubsub strategy consumes one notification per poll. Here one listener task per
//! process LISTENs on `apalis::job::insert` (sent by every insert) and forwards a wake-up
//! to the workers of the job's queue; each worker's [`WakeStrategy`] drains every pending
//! wake-up and its timer on each poll, so none is left to be missed. The timer covers
//! scheduled jobs (no NOTIFY when `run_at` is in the future) and notifications sent while
//! the listener was reconnecting.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::store::listen::{Heard, listen};

/// apalis' insert trigger notifies this channel with `{"job_type": .., "id": ..}`.
const CHANNEL: &str = "apalis::job::insert";

#[derive(Deserialize)]
struct InsertEvent {
    job_type: String,
}

/// Routes notifications to the workers of each queue.
#[derive(Default, Clone)]
pub struct Wakeups {
    senders: Arc<Mutex<HashMap<String, Vec<mpsc::UnboundedSender<()>>>>>,
}

impl Wakeups {
    /// A wake strategy for a new worker on `queue`.
    pub fn strategy(&self, queue: &str, period: Duration) -> WakeStrategy {
        let (tx, rx) = mpsc::unbounded();
        if let Ok(mut senders) = self.senders.lock() {
            senders.entry(queue.to_owned()).or_default().push(tx);
        }
        WakeStrategy {
            rx,
            timer: Box::pin(tokio::time::sleep(period)),
            period,
        }
    }

    fn wake(&self, queue: Option<&str>) {
        if let Ok(mut senders) = self.senders.lock() {
            for (name, list) in senders.iter_mut() {
                if queue.is_none_or(|q| q == name) {
                    // a closed channel belongs to a worker that ended; forget it
                    list.retain(|tx| tx.unbounded_send(()).is_ok());
                }
            }
        }
    }

    /// Runs the process's LISTEN connection until `shutdown`. After a reconnect every
    /// worker is woken, since notifications sent meanwhile are lost.
    pub async fn listen(self, pool: PgPool, shutdown: CancellationToken) {
        listen(pool, CHANNEL, shutdown, |heard| match heard {
            Heard::Payload(p) => match serde_json::from_str::<InsertEvent>(p) {
                Ok(ev) => self.wake(Some(&ev.job_type)),
                Err(_) => self.wake(None),
            },
            Heard::Reconnected => self.wake(None),
        })
        .await
    }
}

/// A worker's wake-ups: a notification for its queue, or its timer.
///
/// [`poll_wake`](Self::poll_wake) drains every pending notification and re-arms the
/// timer, so a wake-up is never left behind for a later poll to miss, and both hold the
/// polling task's waker afterwards. The worker's backend fetches only after a wake-up
/// (`super::backend`), so apalis's own wake-ups (a job finished, an ack returned) cost
/// no query.
pub struct WakeStrategy {
    rx: mpsc::UnboundedReceiver<()>,
    timer: Pin<Box<Sleep>>,
    period: Duration,
}

impl WakeStrategy {
    /// True when a notification arrived or the timer fired since the last call.
    pub fn poll_wake(&mut self, cx: &mut Context<'_>) -> bool {
        let mut woke = false;
        // Drain every pending notification: one fetch claims up to a batch anyway.
        while let Poll::Ready(Some(())) = self.rx.poll_next_unpin(cx) {
            woke = true;
        }
        if woke {
            // the fetch this wake-up owes finds whatever the timer would have
            self.timer.as_mut().reset(Instant::now() + self.period);
        }
        // Re-arm and poll the timer until it is pending, so its waker is registered.
        while self.timer.as_mut().poll(cx).is_ready() {
            woke = true;
            self.timer.as_mut().reset(Instant::now() + self.period);
        }
        woke
    }
}
