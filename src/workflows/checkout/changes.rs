//! Waking the requests that wait on an order (`POST /order` waiting for its payment
//! session, the payment callback, `GET /order/{token}?wait_ms=`) when the order changes.
//!
//! Triggers notify `checkout_order_changed` with the order id at every commit that
//! changes what a client sees (migration `order_changes`). One LISTEN connection per
//! process forwards each notification to the waiters of that order only; a waiter
//! re-reads the order when woken, and at least every [`FALLBACK`] in case a
//! notification was lost while the listener reconnected. Before this, every waiter
//! re-read the order on a timer: under overload those reads became most of the
//! database's work (7 queries per read, ~1,000 transactions per checkout at 60/s).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::listen::{Heard, listen};

const CHANNEL: &str = "checkout_order_changed";

/// The longest a waiter goes without re-reading its order.
pub const FALLBACK: Duration = Duration::from_secs(1);

/// The orders waited on in this process; cheap to clone. The listener task ends when
/// the last clone is dropped.
#[derive(Clone, Default)]
pub struct OrderChanges {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    waiting: Mutex<HashMap<Uuid, watch::Sender<()>>>,
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Inner {
    fn heard(&self, heard: Heard<'_>) {
        let Ok(waiting) = self.waiting.lock() else {
            return;
        };
        match heard {
            Heard::Payload(id) => {
                if let Some(tx) = id.parse().ok().and_then(|id: Uuid| waiting.get(&id)) {
                    tx.send_replace(());
                }
            }
            Heard::Reconnected => waiting.values().for_each(|tx| {
                tx.send_replace(());
            }),
        }
    }
}

impl OrderChanges {
    /// Starts the process's listener on `pool` (inside a tokio runtime; outside one,
    /// waiters fall back to re-reading every [`FALLBACK`]).
    pub fn start(pool: &PgPool) -> Self {
        let changes = OrderChanges::default();
        if tokio::runtime::Handle::try_current().is_ok() {
            let inner: Weak<Inner> = Arc::downgrade(&changes.inner);
            let stop = changes.inner.stop.clone();
            tokio::spawn(listen(pool.clone(), CHANNEL, stop, move |heard| {
                if let Some(inner) = inner.upgrade() {
                    inner.heard(heard);
                }
            }));
        }
        changes
    }

    /// Starts waiting on `order_id`: changes committed from now on wake the returned
    /// watch.
    pub fn watch(&self, order_id: Uuid) -> Watch {
        let rx = match self.inner.waiting.lock() {
            Ok(mut waiting) => waiting
                .entry(order_id)
                .or_insert_with(|| watch::channel(()).0)
                .subscribe(),
            // a poisoned map: no wake-ups, the fallback period still applies
            Err(_) => watch::channel(()).1,
        };
        Watch {
            rx,
            order_id,
            inner: self.inner.clone(),
        }
    }
}

/// One waiter of one order.
pub struct Watch {
    rx: watch::Receiver<()>,
    order_id: Uuid,
    inner: Arc<Inner>,
}

impl Watch {
    /// Forgets wake-ups so far: call before reading the order.
    pub fn seen(&mut self) {
        self.rx.borrow_and_update();
    }

    /// Waits for a change since [`Watch::seen`], at most `limit`.
    pub async fn changed(&mut self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.rx.changed()).await;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.inner.waiting.lock()
            && waiting
                .get(&self.order_id)
                .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            waiting.remove(&self.order_id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn wakes_only_the_waiters_of_the_changed_order_and_forgets_them() {
        let changes = OrderChanges::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut wa = changes.watch(a);
        let mut wa2 = changes.watch(a);
        let mut wb = changes.watch(b);
        wa.seen();
        changes.inner.heard(Heard::Payload(&a.to_string()));
        let t = std::time::Instant::now();
        wa.changed(Duration::from_secs(5)).await;
        wa2.changed(Duration::from_secs(5)).await;
        assert!(t.elapsed() < Duration::from_secs(1));
        // b was not woken: its wait runs to the limit
        let t = std::time::Instant::now();
        wb.changed(Duration::from_millis(50)).await;
        assert!(t.elapsed() >= Duration::from_millis(50));
        // a reconnect wakes everyone
        changes.inner.heard(Heard::Reconnected);
        let t = std::time::Instant::now();
        wb.changed(Duration::from_secs(5)).await;
        assert!(t.elapsed() < Duration::from_secs(1));
        drop(wa);
        assert_eq!(changes.inner.waiting.lock().unwrap().len(), 2);
        drop((wa2, wb));
        assert!(changes.inner.waiting.lock().unwrap().is_empty());
        // garbage payloads are ignored
        changes.inner.heard(Heard::Payload("not-a-uuid"));
    }
}
