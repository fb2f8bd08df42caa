//! Counting a business event once under at-least-once jobs: a step records what its
//! transaction did ([`count`]) and the runner records those counts only after that
//! transaction committed ([`committed`]), or drops them when it rolled back
//! ([`discard`]). A job that runs twice finds the state moved on the second time and
//! counts nothing; a run whose transaction failed counts nothing either.
//!
//! The counts live in a task-local list opened by [`scope`] (the job runtime opens one
//! per job). Outside any scope [`count`] records at once: the caller then counts after
//! its own commit.

use std::cell::RefCell;
use std::future::Future;

type Pending = Vec<Box<dyn FnOnce() + Send>>;

tokio::task_local! {
    static PENDING: RefCell<Pending>;
}

/// Runs `work` with a list of its own; what is left in it at the end (never committed)
/// is dropped.
pub async fn scope<F: Future>(work: F) -> F::Output {
    PENDING.scope(RefCell::new(Vec::new()), work).await
}

/// Records `record` when the current transaction commits (inside a [`scope`]), else now.
pub fn count(record: impl FnOnce() + Send + 'static) {
    let mut record: Option<Box<dyn FnOnce() + Send>> = Some(Box::new(record));
    let _ = PENDING.try_with(|p| p.borrow_mut().extend(record.take()));
    if let Some(now) = record {
        now();
    }
}

/// The transaction committed: record what it counted.
pub fn committed() {
    let pending = PENDING
        .try_with(|p| std::mem::take(&mut *p.borrow_mut()))
        .unwrap_or_default();
    for record in pending {
        record();
    }
}

/// The transaction rolled back: forget what it counted.
pub fn discard() {
    let _ = PENDING.try_with(|p| p.borrow_mut().clear());
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn counter() -> (Arc<AtomicU32>, impl Fn() -> Box<dyn FnOnce() + Send>) {
        let n = Arc::new(AtomicU32::new(0));
        let m = n.clone();
        let make = move || -> Box<dyn FnOnce() + Send> {
            let m = m.clone();
            Box::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
            })
        };
        (n, make)
    }

    #[tokio::test]
    async fn counts_only_what_committed() {
        let (n, make) = counter();
        scope(async {
            count(make());
            assert_eq!(n.load(Ordering::SeqCst), 0, "not before the commit");
            committed();
            assert_eq!(n.load(Ordering::SeqCst), 1);
            count(make());
            discard();
            committed();
            assert_eq!(
                n.load(Ordering::SeqCst),
                1,
                "a rolled back count is dropped"
            );
            count(make());
        })
        .await;
        assert_eq!(
            n.load(Ordering::SeqCst),
            1,
            "never committed: dropped at the end"
        );
    }

    #[tokio::test]
    async fn outside_a_scope_counts_at_once() {
        let (n, make) = counter();
        count(make());
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }
}
