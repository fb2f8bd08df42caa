//! `scheduler`: the cron schedules and the leader's poll.

use std::str::FromStr;

use serde::Deserialize;

/// The scheduler: leadership, cron schedules and what each cron job keeps.
///
/// A schedule is a `cron` crate expression with seconds (`sec min hour dom mon dow`,
/// UTC), or `"off"` (or empty) to switch that job off. Each tick runs once in the whole
/// system, as a `system.cron` job (see `workflows::cron`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSettings {
    /// Port of the scheduler's own `/healthz` and `/readyz`; 0 picks a free one (logged).
    pub health_port: u16,
    /// How often a follower tries to take over leadership (ms).
    pub leader_poll_ms: u64,
    /// Carts past `expires_at` -> expired; finished carts past `cart_retention_secs` deleted.
    pub cart_cleanup: String,
    /// Seat holds and payment sessions the workflow missed.
    pub expiry_sweep: String,
    /// Orders awaiting payment longer than `checkout.reconcile_after_secs` ask the gateway.
    pub reconcile: String,
    /// Sagas that have not advanced within `stuck_after_secs` get their step re-enqueued.
    pub stuck_sweep: String,
    /// Done jobs, old webhook events, expired idempotency records, old login attempts and
    /// used refresh tokens are deleted.
    pub prune: String,
    /// Rows one statement of a cron job touches at most; jobs loop in short transactions.
    pub batch_size: i64,
    /// Expired and merged carts (and their items) are deleted this long after their last
    /// change (s).
    pub cart_retention_secs: u64,
    /// A running saga unchanged this long with no live job for its step is stuck (s).
    pub stuck_after_secs: u64,
    /// Done apalis jobs are deleted this long after they finished (s).
    pub job_retention_secs: u64,
    /// Webhook events are deleted this long after they were received (s).
    pub webhook_retention_secs: u64,
    /// Published outbox events are deleted this long after they were written (s); an
    /// unpublished one never is.
    pub outbox_retention_secs: u64,
    /// Webhook deliveries that succeeded or are dead are deleted this long after they
    /// were made (s); a pending or failing one never is.
    pub delivery_retention_secs: u64,
    /// Login attempts are deleted this long after they were made (s); at least a day and
    /// at least `auth.login_window_secs`, or the login backoff would forget failures.
    pub login_attempt_retention_secs: u64,
    /// Used refresh tokens are deleted this long after their use (s); a replay of an older
    /// one is then refused as unknown rather than revoking its family.
    pub refresh_token_retention_secs: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            health_port: 0,
            leader_poll_ms: 1_000,
            cart_cleanup: "0 */5 * * * *".into(),
            expiry_sweep: "20 * * * * *".into(),
            reconcile: "40 * * * * *".into(),
            stuck_sweep: "50 * * * * *".into(),
            prune: "0 17 * * * *".into(),
            batch_size: 1_000,
            cart_retention_secs: 30 * 86_400,
            stuck_after_secs: 5 * 60,
            job_retention_secs: 7 * 86_400,
            webhook_retention_secs: 90 * 86_400,
            outbox_retention_secs: 7 * 86_400,
            delivery_retention_secs: 30 * 86_400,
            login_attempt_retention_secs: 86_400,
            refresh_token_retention_secs: 30 * 86_400,
        }
    }
}

impl SchedulerSettings {
    /// Every schedule by its name (the name is part of each tick's idempotency key).
    pub fn schedules(&self) -> [(&'static str, &str); 5] {
        [
            ("cart_cleanup", &self.cart_cleanup),
            ("expiry_sweep", &self.expiry_sweep),
            ("reconcile", &self.reconcile),
            ("stuck_sweep", &self.stuck_sweep),
            ("prune", &self.prune),
        ]
    }

    pub(super) fn problems(&self, check: &mut impl FnMut(bool, &str, &str)) {
        for (name, expr) in self.schedules() {
            check(
                parse_schedule(expr).is_ok(),
                &format!("scheduler.{name}"),
                "must be a cron expression with seconds (e.g. \"0 */5 * * * *\") or \"off\"",
            );
        }
        check(
            (1..=100_000).contains(&self.batch_size),
            "scheduler.batch_size",
            "must be between 1 and 100000",
        );
        check(
            self.leader_poll_ms >= 10,
            "scheduler.leader_poll_ms",
            "must be at least 10",
        );
        check(
            self.stuck_after_secs >= 1,
            "scheduler.stuck_after_secs",
            "must be at least 1",
        );
    }
}

/// Parses a schedule setting: a cron expression with seconds, or `off`/empty (None).
pub fn parse_schedule(expr: &str) -> Result<Option<cron::Schedule>, cron::error::Error> {
    let expr = expr.trim();
    if expr.is_empty() || expr.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    cron::Schedule::from_str(expr).map(Some)
}
