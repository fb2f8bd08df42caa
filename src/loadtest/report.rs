//! The run's report: one serde struct (`--json`) and a human table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::chaos::PgRestart;
use super::connections::ConnectionsReport;
use super::dbstats::{DbCounters, DbLatencies};
use super::stats::{Percentiles, Snapshot};
use super::{LoadtestArgs, round2, round3};
use crate::admin::check::{CheckReport, render as render_check};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Chaos {
    pub workers: usize,
    pub worker_kills: u64,
    pub postgres_restart: Option<PgRestart>,
    pub faults: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    pub server_pids: Vec<u32>,
    /// The `--pid` processes plus the harness's workers.
    pub checkout_processes_s: f64,
    /// Every postgres process on the machine (a shared server adds others' work),
    /// including backends started during the run.
    pub postgres_all_s: f64,
    pub checkout_processes_per_checkout_s: f64,
    pub postgres_per_checkout_s: f64,
    /// This load generator (it shares the machine with what it measures).
    pub generator_s: f64,
    pub generator_per_checkout_s: f64,
    /// The whole machine, busy (all cores, everything on it) during the run: the
    /// figure that bounds the rate on a machine the generator shares.
    pub machine_busy_s: f64,
    pub machine_per_checkout_s: f64,
}

/// Database work per enrolled checkout, from `pg_stat_database` deltas (includes the
/// workers' polling and the scheduler during the run).
#[derive(Debug, Clone, Serialize)]
pub struct PerCheckout {
    pub transactions: f64,
    pub rows_written: f64,
    pub rows_read: f64,
    /// Index entries returned by index scans, all indexes.
    pub index_entries_read: f64,
    /// The indexes that returned the most entries, most first (at most five).
    pub hottest_indexes: Vec<IndexReads>,
}

/// Entries one index returned per checkout.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReads {
    pub index: String,
    pub entries: f64,
}

impl PerCheckout {
    pub fn from(delta: &DbCounters, enrolled: u64) -> Self {
        let n = enrolled.max(1) as f64;
        PerCheckout {
            transactions: round2((delta.xact_commit + delta.xact_rollback) as f64 / n),
            rows_written: round2(
                (delta.tup_inserted + delta.tup_updated + delta.tup_deleted) as f64 / n,
            ),
            rows_read: round2((delta.tup_returned + delta.tup_fetched) as f64 / n),
            index_entries_read: round2(delta.index_entries.values().sum::<i64>() as f64 / n),
            hottest_indexes: hottest(&delta.index_entries, 5)
                .into_iter()
                .map(|(index, entries)| IndexReads {
                    index: index.to_owned(),
                    entries: round2(entries as f64 / n),
                })
                .collect(),
        }
    }
}

/// The `count` largest entries, largest first (ties by name).
fn hottest(entries: &BTreeMap<String, i64>, count: usize) -> Vec<(&str, i64)> {
    let mut all: Vec<(&str, i64)> = entries.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    all.truncate(count);
    all
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub run_id: String,
    pub base_url: String,
    pub target_rate: f64,
    pub duration_s: f64,
    pub scheduled: u64,
    /// Time spent starting checkouts, and until the last one ended.
    pub offered_s: f64,
    pub elapsed_s: f64,
    /// Largest delay of a checkout's actual start behind its schedule (generator health).
    pub generator_late_max_ms: f64,
    pub in_flight_peak: u64,
    /// Enrolled checkouts / (first start -> last enrollment, at least the offered time).
    pub achieved_checkouts_per_s: f64,
    /// Per endpoint, from each request's intended start (ms).
    pub latency: Vec<Percentiles>,
    /// `endpoint:code` -> count (code: the envelope's error code, `httpNNN`, `timeout`,
    /// `connect`, `transport`).
    pub errors: BTreeMap<String, u64>,
    /// `endpoint:code` -> requests sent again with the same `Idempotency-Key` after
    /// that answer (`--retries`); a retry that then succeeded is not an error.
    pub retried: BTreeMap<String, u64>,
    /// Terminal status as the client saw it -> count (`error`, `timeout`: the checkout
    /// was abandoned by the client).
    pub terminal: BTreeMap<String, u64>,
    pub terminal_share: BTreeMap<String, f64>,
    pub database: Option<DbLatencies>,
    pub db_counters: Option<DbCounters>,
    pub per_checkout: Option<PerCheckout>,
    pub cpu: Option<Cpu>,
    pub chaos: Chaos,
    pub check: Option<CheckReport>,
    pub connections: Option<ConnectionsReport>,
}

impl Report {
    pub fn checkouts(
        args: &LoadtestArgs,
        run_id: &str,
        scheduled: u64,
        snapshot: Snapshot,
    ) -> Self {
        let ended: u64 = snapshot.terminal.values().sum();
        let terminal_share = snapshot
            .terminal
            .iter()
            .map(|(k, v)| (k.clone(), round3(*v as f64 / ended.max(1) as f64)))
            .collect();
        Report {
            mode: if args.signed_in {
                "checkouts-signed-in"
            } else {
                "checkouts"
            },
            run_id: run_id.to_owned(),
            base_url: args.base_url.clone(),
            target_rate: args.rate,
            duration_s: args.duration,
            scheduled,
            latency: snapshot.latency,
            errors: snapshot.errors,
            retried: snapshot.retried,
            terminal: snapshot.terminal,
            terminal_share,
            ..Report::default()
        }
    }

    pub fn connections(args: &LoadtestArgs, report: ConnectionsReport) -> Self {
        Report {
            mode: "connections",
            base_url: args.base_url.clone(),
            duration_s: args.duration,
            connections: Some(report),
            ..Report::default()
        }
    }
}

fn table(out: &mut String, rows: &[Percentiles]) {
    let _ = writeln!(
        out,
        "  {:<40} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for p in rows {
        let _ = writeln!(
            out,
            "  {:<40} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            p.name, p.count, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms
        );
    }
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    if let Some(c) = &r.connections {
        let _ = writeln!(
            out,
            "connections: target {}, peak open {}, open at end {}, connect errors {}\n\
             requests: {} ok, {} errors, {:.1}/s",
            c.target_connections,
            c.peak_open,
            c.open_at_end,
            c.connect_errors,
            c.requests_ok,
            c.request_errors,
            c.requests_per_s
        );
        table(&mut out, &c.latency);
        return out;
    }
    let _ = writeln!(
        out,
        "run {}: {} checkouts scheduled at {}/s for {} s against {}\n\
         achieved {:.2} enrolled checkouts/s; ended after {:.1} s; peak in flight {}; generator late max {:.1} ms",
        r.run_id,
        r.scheduled,
        r.target_rate,
        r.duration_s,
        r.base_url,
        r.achieved_checkouts_per_s,
        r.elapsed_s,
        r.in_flight_peak,
        r.generator_late_max_ms
    );
    let _ = writeln!(out, "\nlatency (from intended start, ms):");
    table(&mut out, &r.latency);
    if let Some(db) = &r.database {
        let _ = writeln!(out, "\nfrom the database (ms):");
        let mut rows = vec![db.webhook_to_enrolled.clone(), db.event_publish_lag.clone()];
        rows.extend(db.step_pickup.iter().map(|p| Percentiles {
            name: format!("pickup: {}", p.name),
            ..p.clone()
        }));
        table(&mut out, &rows);
        let _ = writeln!(out, "  orders by status: {:?}", db.orders_by_status);
        let _ = writeln!(
            out,
            "  events: {} written, {} published ({:.1}/s over the run)",
            db.events_written,
            db.events_published,
            db.events_published as f64 / r.elapsed_s.max(0.001)
        );
    }
    let _ = writeln!(out, "\nterminal status (client): {:?}", r.terminal_share);
    if r.errors.is_empty() {
        let _ = writeln!(out, "errors: none");
    } else {
        let _ = writeln!(out, "errors: {:?}", r.errors);
    }
    if !r.retried.is_empty() {
        let _ = writeln!(out, "retried: {:?}", r.retried);
    }
    if let Some(c) = &r.cpu {
        let _ = writeln!(
            out,
            "cpu: checkout processes {:.2} s ({:.4} s/checkout), postgres (all) {:.2} s ({:.4} s/checkout), \
             generator {:.2} s ({:.4} s/checkout), whole machine {:.2} s ({:.4} s/checkout)",
            c.checkout_processes_s,
            c.checkout_processes_per_checkout_s,
            c.postgres_all_s,
            c.postgres_per_checkout_s,
            c.generator_s,
            c.generator_per_checkout_s,
            c.machine_busy_s,
            c.machine_per_checkout_s,
        );
    }
    if let Some(p) = &r.per_checkout {
        let _ = writeln!(
            out,
            "database per checkout: {:.1} transactions, {:.1} rows written, {:.1} rows read, {:.1} index entries read",
            p.transactions, p.rows_written, p.rows_read, p.index_entries_read
        );
        for i in &p.hottest_indexes {
            let _ = writeln!(
                out,
                "  {:.1} entries per checkout from {}",
                i.entries, i.index
            );
        }
    }
    let chaos = &r.chaos;
    if chaos.workers > 0 || chaos.postgres_restart.is_some() || !chaos.faults.is_empty() {
        let _ = writeln!(
            out,
            "chaos: {} harness workers, {} kills, postgres restart {:?}, faults {:?}",
            chaos.workers, chaos.worker_kills, chaos.postgres_restart, chaos.faults
        );
    }
    if let Some(check) = &r.check {
        out.push('\n');
        out.push_str(&render_check(check));
    }
    out
}
