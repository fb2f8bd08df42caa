//! `checkout admin jobs list|show|retry|cancel|stats`.

use clap::Subcommand;
use serde::Serialize;
use serde_json::json;

use super::output::{Progress, Table, emit, opt};
use super::{Admin, audit, parse_age};
use crate::store::jobs::{self, Filter, JobRow};

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Jobs, newest first.
    List {
        /// Pending, Queued (claimed by a worker: running or about to), Done, Failed or
        /// Killed; Running only on rows written before workers stopped marking it.
        #[arg(long)]
        status: Option<String>,
        /// e.g. checkout.steps, checkout.compensate, checkout.refunds, system.cron,
        /// events.deliveries, checkout.documents
        #[arg(long)]
        queue: Option<String>,
        /// Only jobs due longer ago than this (90s, 15m, 2h, 7d).
        #[arg(long, value_parser = parse_age)]
        older_than: Option<u64>,
        /// Only jobs claimed by a worker that stopped heartbeating (or by none).
        #[arg(long)]
        stuck: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One job with its payload and last result.
    Show { id: String },
    /// A Failed or Killed job back to Pending with its attempts reset.
    Retry {
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        id: Option<String>,
        /// Every Failed and Killed job (see --queue, --limit, --dry-run).
        #[arg(long)]
        all_failed: bool,
        #[arg(long, requires = "all_failed")]
        queue: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        /// List what would be retried; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A Pending or Failed job to Killed (never run again).
    Cancel { id: String },
    /// Per queue and status: counts and oldest age; per queue: failure rate.
    Stats,
}

pub async fn run(admin: &Admin, command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List {
            status,
            queue,
            older_than,
            stuck,
            limit,
        } => {
            let w = &admin.settings.worker;
            let filter = Filter {
                status,
                queue,
                older_than_secs: older_than,
                stuck_after_secs: stuck.then_some(w.heartbeat_secs * w.missed_heartbeats as u64),
                limit,
            };
            let rows = admin
                .reader
                .read(|c| {
                    let filter = filter.clone();
                    Box::pin(async move { jobs::list(c, &filter).await })
                })
                .await?;
            emit(admin.json, &rows, || table(&rows).print())
        }
        JobsCommand::Show { id } => {
            let mut conn = admin.pool.acquire().await?;
            let job = jobs::get(&mut conn, &id)
                .await?
                .ok_or_else(|| unknown(&id))?;
            emit(admin.json, &job, || {
                table(std::slice::from_ref(&job)).print();
                println!("job: {}", job.job);
                println!("last result: {}", opt(&job.last_result));
            })
        }
        JobsCommand::Retry {
            id: Some(id),
            dry_run,
            ..
        } => {
            let job = retry(admin, &id, dry_run).await?;
            emit(admin.json, &job, || {
                println!(
                    "job {id} is {}{}",
                    job.status,
                    if dry_run { " (dry run)" } else { "" }
                )
            })
        }
        JobsCommand::Retry {
            id: None,
            queue,
            limit,
            dry_run,
            ..
        } => {
            let ids = jobs::failed_ids(&mut *admin.pool.acquire().await?, queue.as_deref(), limit)
                .await?;
            let mut retried = Vec::new();
            let mut progress = Progress::lines(ids.len(), "retrying");
            for id in &ids {
                // one transaction per job: a bulk retry never holds many locks
                match retry(admin, id, dry_run).await {
                    Ok(job) => retried.push(job),
                    Err(e) => progress.note(&format!("skipped {id}: {e:#}")),
                }
                progress.step(id);
            }
            drop(progress);
            let summary = json!({"retried": retried.len(), "dry_run": dry_run, "jobs": retried});
            emit(admin.json, &summary, || {
                table(&retried).print();
                let verb = if dry_run { "would retry" } else { "retried" };
                println!("{verb} {} job(s)", retried.len());
            })
        }
        JobsCommand::Cancel { id } => {
            let job = cancel(admin, &id).await?;
            emit(admin.json, &job, || println!("job {id} is {}", job.status))
        }
        JobsCommand::Stats => {
            let stats = stats(admin).await?;
            emit(admin.json, &stats, || {
                let mut t = Table::new(&[
                    "queue",
                    "status",
                    "count",
                    "oldest due age (s)",
                    "next due in (s)",
                ]);
                for q in &stats {
                    for s in &q.statuses {
                        t.row([
                            q.queue.clone(),
                            s.status.clone(),
                            s.count.to_string(),
                            opt(&s.oldest_age_secs),
                            opt(&s.next_due_in_secs),
                        ]);
                    }
                }
                t.print();
                let mut t = Table::new(&["queue", "finished", "failed+killed", "failure rate"]);
                for q in &stats {
                    t.row([
                        q.queue.clone(),
                        q.finished.to_string(),
                        q.failed.to_string(),
                        format!("{:.1}%", q.failure_rate * 100.0),
                    ]);
                }
                t.print();
            })
        }
    }
}

fn unknown(id: &str) -> anyhow::Error {
    anyhow::anyhow!("no job with id `{id}`")
}

fn table(rows: &[JobRow]) -> Table {
    let mut t = Table::new(&["id", "queue", "status", "attempts", "run_at", "key", "job"]);
    for r in rows {
        t.row([
            r.id.clone(),
            r.queue.clone(),
            r.status.clone(),
            format!("{}/{}", r.attempts, r.max_attempts),
            r.run_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            opt(&r.idempotency_key),
            summary(&r.job),
        ]);
    }
    t
}

/// `step order=… step=…` from the payload.
fn summary(job: &serde_json::Value) -> String {
    let Some(map) = job.as_object() else {
        return job.to_string();
    };
    let kind = map.get("type").and_then(|t| t.as_str()).unwrap_or("?");
    let rest: Vec<String> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str().map(str::to_owned).unwrap_or(v.to_string())
            )
        })
        .collect();
    format!("{kind} {}", rest.join(" "))
}

/// Failed or Killed -> Pending, attempts reset; Running and Done are refused with the
/// reason; Pending or Queued already will run (nothing to do).
async fn retry(admin: &Admin, id: &str, dry_run: bool) -> anyhow::Result<JobRow> {
    let mut tx = admin.pool.begin().await?;
    let job = jobs::lock(&mut tx, id).await?.ok_or_else(|| unknown(id))?;
    match job.status.as_str() {
        "Failed" | "Killed" => {}
        "Pending" | "Queued" => return Ok(job),
        "Running" => anyhow::bail!(
            "job {id} is Running (worker {}): it cannot be retried while it runs; \
             if its worker died it is re-enqueued once its heartbeat is missed",
            opt(&job.lock_by)
        ),
        "Done" => anyhow::bail!("job {id} is Done: it succeeded, there is nothing to retry"),
        other => anyhow::bail!("job {id} is {other}: cannot be retried"),
    }
    if dry_run {
        return Ok(job);
    }
    jobs::reset_to_pending(&mut tx, id).await?;
    let after = jobs::get(&mut tx, id).await?.ok_or_else(|| unknown(id))?;
    let key = audit::fresh_key("jobs.retry", id);
    let before = json!({"status": job.status, "attempts": job.attempts});
    let after_json = json!({"status": after.status, "attempts": after.attempts});
    audit::write(
        &mut tx,
        admin,
        "jobs.retry",
        id,
        &key,
        Some(before),
        Some(after_json),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Pending or Failed -> Killed; Running and Done are refused; Killed already is fine.
async fn cancel(admin: &Admin, id: &str) -> anyhow::Result<JobRow> {
    let mut tx = admin.pool.begin().await?;
    let job = jobs::lock(&mut tx, id).await?.ok_or_else(|| unknown(id))?;
    match job.status.as_str() {
        "Pending" | "Failed" => {}
        "Killed" => return Ok(job),
        "Running" | "Queued" => anyhow::bail!(
            "job {id} is {} (claimed by worker {}): it cannot be cancelled while a worker holds it",
            job.status,
            opt(&job.lock_by)
        ),
        "Done" => anyhow::bail!("job {id} is Done: it already ran, there is nothing to cancel"),
        other => anyhow::bail!("job {id} is {other}: cannot be cancelled"),
    }
    jobs::kill(&mut tx, id).await?;
    let key = audit::fresh_key("jobs.cancel", id);
    let before = json!({"status": job.status});
    let after = json!({"status": "Killed"});
    audit::write(
        &mut tx,
        admin,
        "jobs.cancel",
        id,
        &key,
        Some(before),
        Some(after),
    )
    .await?;
    let killed = jobs::get(&mut tx, id).await?.ok_or_else(|| unknown(id))?;
    tx.commit().await?;
    Ok(killed)
}

#[derive(Debug, Serialize)]
pub struct StatusStats {
    pub status: String,
    pub count: i64,
    /// Age of the oldest job already due; jobs scheduled in the future have no age yet.
    pub oldest_age_secs: Option<i64>,
    /// When the next job scheduled in the future is due.
    pub next_due_in_secs: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct QueueStats {
    pub queue: String,
    pub statuses: Vec<StatusStats>,
    /// Done + Failed + Killed
    pub finished: i64,
    /// Failed + Killed
    pub failed: i64,
    /// failed / finished (0 when nothing finished)
    pub failure_rate: f64,
}

async fn stats(admin: &Admin) -> anyhow::Result<Vec<QueueStats>> {
    let rows = admin.reader.read(|c| Box::pin(jobs::stats(c))).await?;
    let mut out: Vec<QueueStats> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|q| q.queue != r.queue) {
            out.push(QueueStats {
                queue: r.queue.clone(),
                statuses: Vec::new(),
                finished: 0,
                failed: 0,
                failure_rate: 0.0,
            });
        }
        if let Some(q) = out.last_mut() {
            if matches!(r.status.as_str(), "Done" | "Failed" | "Killed") {
                q.finished += r.count;
            }
            if matches!(r.status.as_str(), "Failed" | "Killed") {
                q.failed += r.count;
            }
            q.failure_rate = if q.finished > 0 {
                q.failed as f64 / q.finished as f64
            } else {
                0.0
            };
            q.statuses.push(StatusStats {
                status: r.status,
                count: r.count,
                oldest_age_secs: r.oldest_age_secs,
                next_due_in_secs: r.next_due_in_secs,
            });
        }
    }
    Ok(out)
}
