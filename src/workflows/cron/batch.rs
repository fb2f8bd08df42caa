//! Bounded batches: one statement touches at most `batch` rows and commits on its own.

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
