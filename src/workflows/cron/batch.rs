//! Bounded batches: one statement touches at most `batch` rows and commits on its own;
//! walks over many rows go in keyset pages ([`Pages`]).

use std::future::Future;

use serde::Serialize;

/// What a cron job did. `max_rows` is the most rows one statement touched, which a
/// test compares with the batch size.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub rows: u64,
    pub statements: u64,
    pub max_rows: u64,
}

impl Stats {
    pub fn add(&mut self, rows: u64) {
        self.rows += rows;
        self.statements += 1;
        self.max_rows = self.max_rows.max(rows);
    }

    pub fn merge(mut self, other: Stats) -> Stats {
        self.rows += other.rows;
        self.statements += other.statements;
        self.max_rows = self.max_rows.max(other.max_rows);
        self
    }
}

/// Runs `step` (one statement limited to `batch` rows, in its own transaction) until it
/// touches fewer than `batch` rows.
pub async fn repeat<F, Fut>(batch: i64, mut step: F) -> sqlx::Result<Stats>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = sqlx::Result<u64>>,
{
    let mut stats = Stats::default();
    loop {
        let rows = step().await?;
        stats.add(rows);
        if rows < batch.max(1) as u64 {
            return Ok(stats);
        }
    }
}

/// A walk over rows in keyset pages of `batch`: each page is read after the last key of
/// the one before, in its own transaction, until a page comes back short. Keyset rather
/// than offset, so each page reads only its own rows however far the walk has gone.
pub struct Pages<K> {
    after: Option<K>,
    batch: i64,
    stats: Stats,
}

impl<K: Copy> Pages<K> {
    pub fn new(first: K, batch: i64) -> Self {
        Pages {
            after: Some(first),
            batch,
            stats: Stats::default(),
        }
    }

    /// The key to read the next page after; `None` once a page came back short.
    pub fn next_after(&self) -> Option<K> {
        self.after
    }

    /// Records a page of `len` rows ending at `last`, of which `acted` were acted on.
    pub fn record(&mut self, len: usize, last: Option<K>, acted: u64) {
        self.stats.add(acted);
        self.after = match last {
            Some(k) if len as i64 >= self.batch => Some(k),
            _ => None,
        };
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_stop_after_a_short_page() {
        let mut pages = Pages::new(0u32, 2);
        assert_eq!(pages.next_after(), Some(0));
        pages.record(2, Some(7), 1);
        assert_eq!(pages.next_after(), Some(7));
        pages.record(1, Some(9), 1);
        assert_eq!(pages.next_after(), None);
        assert_eq!(pages.stats().rows, 2);
        assert_eq!(pages.stats().statements, 2);
    }
}
