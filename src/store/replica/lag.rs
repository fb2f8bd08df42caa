//! How far behind the replica is, from WAL positions alone.
//!
//! The rule: the lag is how long the primary has had WAL that the replica has not
//! replayed. The sampler records, once a second, the primary's WAL position and when it
//! was first seen at that position; the replica's replayed position then says which of
//! those samples it has not reached, and the oldest of them dates the lag. A replica at
//! or past the newest sample has lag zero.
//!
//! The measure is at most one sample period (1 s) short of the truth: WAL written just
//! after a sample is dated by the next one. Nothing compares clocks across servers.
//! WAL older than the first sample has no date: a replica that has not reached the
//! first sample is behind by an unknown time (`None`), and is not trusted until it has.
//!
//! Why not `now() - pg_last_xact_replay_timestamp()` on the replica: that is the commit
//! time of the last transaction it replayed. On an idle primary it grows without bound
//! while the replica is fully caught up; and even read only when the positions differ,
//! it counts the idle time before the first commit after a quiet spell (or before WAL
//! that holds no commit at all: checkpoints, the standby snapshots written every 15 s)
//! as lag, bypassing a replica that is milliseconds behind.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Samples kept at most: an hour at one a second. A replica further behind than that
/// is dated by the oldest kept, still far past any allowed lag.
const KEEP: usize = 3_600;

/// The primary's WAL positions, each with when it was first seen (`None`: the first
/// sample, whose WAL may be older than the sampler).
#[derive(Debug, Default)]
pub struct Lsns {
    seen: VecDeque<(Option<Instant>, i64)>,
    started: bool,
}

impl Lsns {
    /// The primary was at `lsn` at `at`. A position already seen keeps its first time.
    pub fn primary_at(&mut self, at: Instant, lsn: i64) {
        if self.seen.back().is_some_and(|&(_, last)| lsn <= last) {
            return;
        }
        let at = std::mem::replace(&mut self.started, true).then_some(at);
        self.seen.push_back((at, lsn));
        if self.seen.len() > KEEP {
            self.seen.pop_front();
        }
    }

    /// The lag at `now` of a replica that replayed up to `replayed` (`None`: behind
    /// the first sample, by an unknown time); forgets the samples it has reached.
    pub fn lag(&mut self, now: Instant, replayed: i64) -> Option<Duration> {
        while self.seen.front().is_some_and(|&(_, lsn)| lsn <= replayed) {
            self.seen.pop_front();
        }
        match self.seen.front() {
            None => Some(Duration::ZERO),
            Some(&(at, _)) => at.map(|at| now.saturating_duration_since(at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_replica_at_the_primarys_position_has_no_lag_however_long_the_primary_was_idle() {
        let t0 = Instant::now();
        let mut lsns = Lsns::default();
        for s in 0..600 {
            lsns.primary_at(t0 + secs(s), 100);
        }
        assert_eq!(lsns.lag(t0 + secs(600), 100), Some(Duration::ZERO));
    }

    #[test]
    fn wal_older_than_the_first_sample_has_no_date() {
        let t0 = Instant::now();
        let mut lsns = Lsns::default();
        lsns.primary_at(t0, 100);
        lsns.primary_at(t0 + secs(1), 150);
        assert_eq!(lsns.lag(t0 + secs(5), 90), None);
        assert_eq!(lsns.lag(t0 + secs(5), 100), Some(secs(4)));
    }

    #[test]
    fn the_first_write_after_an_idle_spell_is_dated_by_when_it_was_seen() {
        let t0 = Instant::now();
        let mut lsns = Lsns::default();
        for s in 0..600 {
            lsns.primary_at(t0 + secs(s), 100);
        }
        // caught up, so the idle samples are forgotten
        assert_eq!(lsns.lag(t0 + secs(600), 100), Some(Duration::ZERO));
        lsns.primary_at(t0 + secs(601), 200);
        assert_eq!(lsns.lag(t0 + secs(601), 100), Some(Duration::ZERO));
        assert_eq!(lsns.lag(t0 + secs(603), 100), Some(secs(2)));
        assert_eq!(lsns.lag(t0 + secs(603), 200), Some(Duration::ZERO));
    }

    #[test]
    fn a_stalled_replica_lags_from_the_oldest_position_it_has_not_reached() {
        let t0 = Instant::now();
        let mut lsns = Lsns::default();
        for s in 0..10 {
            lsns.primary_at(t0 + secs(s), 100 + s as i64);
        }
        assert_eq!(lsns.lag(t0 + secs(10), 103), Some(secs(6)));
        // it moved on: only what it still misses counts
        assert_eq!(lsns.lag(t0 + secs(10), 108), Some(secs(1)));
        assert_eq!(lsns.lag(t0 + secs(10), 109), Some(Duration::ZERO));
    }

    #[test]
    fn the_history_is_bounded() {
        let t0 = Instant::now();
        let mut lsns = Lsns::default();
        for s in 0..(KEEP as u64 + 100) {
            lsns.primary_at(t0 + secs(s), s as i64 + 1);
        }
        assert_eq!(lsns.seen.len(), KEEP);
        assert_eq!(
            lsns.lag(t0 + secs(KEEP as u64 + 100), 0),
            Some(secs(KEEP as u64))
        );
    }
}
