//! Waking the requests that wait on an order (`POST /order` waiting for its payment
//! session, the payment callback, `GET /order/{token}?wait_ms=`) when the order changes.
//!
//! Triggers notify `checkout_order_changed` with the order id at every commit that
//! changes what a client sees (migrations `order_changes`, `order_change_status`): an
//! order's own change says its new status too (`{id} {status}`), a payment's change
//! only the order id. One LISTEN connection per process forwards each notification to
//! the waiters of that order only. A waiter takes a status it is told as it is (the
//! notification is sent at the commit that wrote it, and notifications arrive in
//! commit order), and re-reads the status when woken without one, and at least every
//! [`FALLBACK`] in case a notification was lost while the listener reconnected (the
//! listener wakes every waiter when it connects again, so that re-read is a last resort,
//! and rare: waits grow long exactly when the database is the bottleneck, so a frequent
//! re-read would feed the overload that made them long. For the same reason waiters
//! never poll the order on a timer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::DropGuard;
use uuid::Uuid;

use crate::store::listen::{Heard as Listened, listen_for};

const CHANNEL: &str = "checkout_order_changed";

/// The longest a waiter goes without re-reading its order, once it has read it while
/// watching: every change committed since is notified to it.
pub const FALLBACK: Duration = Duration::from_secs(5);

/// The first re-read of a waiter that starts from a status read before it watched: a
/// change committed in between was not notified to it.
pub const FALLBACK_UNWATCHED: Duration = Duration::from_secs(1);

/// What a waiter was told about its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// The order's status as of a committed change.
    Status(String),
    /// Something changed (a payment, or the listener reconnected): read the status.
    Changed,
}

/// The orders waited on in this process; cheap to clone. The listener task ends when
/// the last clone is dropped.
#[derive(Clone, Default)]
pub struct OrderChanges {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    waiting: Mutex<HashMap<Uuid, watch::Sender<Heard>>>,
    /// Ends the listener when the last clone of the `OrderChanges` is dropped.
    listener: OnceLock<DropGuard>,
}

impl Inner {
    fn heard(&self, heard: Listened<'_>) {
        let Ok(waiting) = self.waiting.lock() else {
            return;
        };
        match heard {
            Listened::Payload(payload) => {
                let (id, status) = match payload.split_once(' ') {
                    Some((id, status)) => (id, Heard::Status(status.to_owned())),
                    None => (payload, Heard::Changed),
                };
                if let Some(tx) = id.parse().ok().and_then(|id: Uuid| waiting.get(&id)) {
                    tx.send_replace(status);
                }
            }
            Listened::Reconnected => waiting.values().for_each(|tx| {
                tx.send_replace(Heard::Changed);
            }),
        }
    }
}

impl OrderChanges {
    /// Starts the process's listener on `pool` (inside a tokio runtime; outside one,
    /// waiters fall back to re-reading every [`FALLBACK`]).
    pub fn start(pool: &PgPool) -> Self {
        let changes = OrderChanges::default();
        let on = |inner: Arc<Inner>, heard: Listened<'_>| inner.heard(heard);
        if let Some(guard) = listen_for(pool, CHANNEL, &changes.inner, on) {
            let _ = changes.inner.listener.set(guard);
        }
        changes
    }

    /// Starts waiting on `order_id`: changes committed from now on wake the returned
    /// watch.
    pub fn watch(&self, order_id: Uuid) -> Watch {
        let rx = match self.inner.waiting.lock() {
            Ok(mut waiting) => waiting
                .entry(order_id)
                .or_insert_with(|| watch::channel(Heard::Changed).0)
                .subscribe(),
            // a poisoned map: no wake-ups, the fallback period still applies
            Err(_) => watch::channel(Heard::Changed).1,
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
    rx: watch::Receiver<Heard>,
    order_id: Uuid,
    inner: Arc<Inner>,
}

impl Watch {
    /// Forgets wake-ups so far: call before reading the order.
    pub fn seen(&mut self) {
        self.rx.borrow_and_update();
    }

    /// Waits for a change since [`Watch::seen`], at most `limit`: what was heard, or
    /// `None` when nothing was (time to re-read). Marks it seen.
    pub async fn changed(&mut self, limit: Duration) -> Option<Heard> {
        match tokio::time::timeout(limit, self.rx.changed()).await {
            Ok(Ok(())) => Some(self.rx.borrow_and_update().clone()),
            _ => None,
        }
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
        changes.inner.heard(Listened::Payload(&a.to_string()));
        let t = std::time::Instant::now();
        wa.changed(Duration::from_secs(5)).await;
        wa2.changed(Duration::from_secs(5)).await;
        assert!(t.elapsed() < Duration::from_secs(1));
        // b was not woken: its wait runs to the limit
        let t = std::time::Instant::now();
        wb.changed(Duration::from_millis(50)).await;
        assert!(t.elapsed() >= Duration::from_millis(50));
        // a reconnect wakes everyone
        changes.inner.heard(Listened::Reconnected);
        let t = std::time::Instant::now();
        wb.changed(Duration::from_secs(5)).await;
        assert!(t.elapsed() < Duration::from_secs(1));
        drop(wa);
        assert_eq!(changes.inner.waiting.lock().unwrap().len(), 2);
        drop((wa2, wb));
        assert!(changes.inner.waiting.lock().unwrap().is_empty());
        // garbage payloads are ignored
        changes.inner.heard(Listened::Payload("not-a-uuid"));
    }

    #[tokio::test]
    async fn an_order_change_carries_its_status_and_a_payment_change_does_not() {
        let changes = OrderChanges::default();
        let a = Uuid::now_v7();
        let mut w = changes.watch(a);
        w.seen();
        changes
            .inner
            .heard(Listened::Payload(&format!("{a} awaiting_payment")));
        changes.inner.heard(Listened::Payload(&format!("{a} paid")));
        // the latest status wins; it is marked seen
        assert_eq!(
            w.changed(Duration::from_secs(5)).await,
            Some(Heard::Status("paid".into()))
        );
        assert_eq!(w.changed(Duration::from_millis(20)).await, None);
        changes.inner.heard(Listened::Payload(&a.to_string()));
        assert_eq!(
            w.changed(Duration::from_secs(5)).await,
            Some(Heard::Changed)
        );
    }
}
