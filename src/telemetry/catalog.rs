//! The metric catalog: every metric the processes export, described once (help text and
//! unit) and registered at zero for every label value known in advance, so a rule or a
//! panel never queries a series that does not exist yet. docs/operations.md lists it.
//!
//! Label values are closed sets (never an id, a token, an email or free text). Those
//! owned by this level (gateways, saga steps, order statuses) come from their enums;
//! those owned higher up (queues and job names, webhook kinds, rate-limit groups) are
//! passed in by the role through [`Known`].

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

use crate::domain::GatewayKind;
use crate::domain::invoice::SupplyType;
use crate::domain::order::Step;

/// `payments_failed_total{reason}`.
pub const PAYMENT_FAILURES: [&str; 5] = [
    "declined",
    "expired",
    "cancelled",
    "amount_mismatch",
    "error",
];
/// `compensations_total{reason}`: the order status that started the compensation.
pub const COMPENSATION_REASONS: [&str; 4] = ["failed", "expired", "cancelled", "refunded"];
/// `refunds_requested_total{reason}`: why a refund was decided.
pub const REFUND_REASONS: [&str; 8] = [
    "amount_mismatch",
    "duplicate_payment",
    "order_ended",
    "cohort_full",
    "already_enrolled",
    "cancelled",
    "admin",
    "other",
];
/// `jobs_run_total{outcome}`.
pub const JOB_OUTCOMES: [&str; 3] = ["ok", "error", "panic"];
/// `session_cache_lookups_total{result}`.
pub const CACHE_RESULTS: [&str; 2] = ["hit", "miss"];
/// `db_pool_connections{state}`.
pub const POOL_STATES: [&str; 2] = ["idle", "in_use"];
/// `db_reads_routed_total{pool}`: which pool answered a staleness-tolerant read
/// (`store::replica`).
pub const READ_POOLS: [&str; 2] = ["primary", "replica"];
/// `webhooks_failed_total{kind}` of a webhook that could not be parsed.
pub const UNKNOWN_KIND: &str = "unknown";

/// Label values owned above this level, handed in by the role.
pub struct Known<'a> {
    /// `(queue, job)` of every job kind (`workflows::jobs`).
    pub jobs: &'a [(&'static str, &'static str)],
    /// Every queue (`workflows::jobs::QUEUES`).
    pub queues: &'a [&'static str],
    /// Webhook kinds as labelled (`gateways::WebhookKind::LABELS`), `other` included.
    pub webhook_kinds: &'a [&'static str],
    /// Rate-limit groups (`api::layers::groups`).
    pub ratelimit_groups: &'a [&'static str],
    /// Cron schedules (`config::SchedulerSettings::schedules`).
    pub cron_schedules: &'a [&'static str],
}

/// Describes every metric and registers each counter and histogram at zero for every
/// known label set. Idempotent: registering an existing series changes nothing. A
/// histogram only needs registering: the exporter renders one with no observations as
/// zero buckets.
pub fn register(known: &Known<'_>) {
    super::metrics_handle();
    describe();
    let gateways = GatewayKind::ALL.map(GatewayKind::as_str);
    for name in [
        "carts_created_total",
        "carts_converted_total",
        "orders_created_total",
        "enrollments_total",
        "idempotency_replays_total",
        "ratelimit_backend_errors_total",
        "events_published_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    let _ = metrics::histogram!("db_pool_acquire_seconds");
    for gateway in gateways {
        for name in [
            "payments_succeeded_total",
            "refunds_processed_total",
            "refunds_failed_total",
            "webhooks_received_total",
            "webhooks_rejected_total",
            "webhooks_unmatched_total",
            "reconciliation_recovered_total",
            "gateway_circuit_rejected_total",
        ] {
            metrics::counter!(name, "gateway" => gateway).increment(0);
        }
        let _ = metrics::histogram!("webhook_processing_seconds", "gateway" => gateway);
        for reason in PAYMENT_FAILURES {
            metrics::counter!("payments_failed_total", "gateway" => gateway, "reason" => reason)
                .increment(0);
        }
        for reason in REFUND_REASONS {
            metrics::counter!("refunds_requested_total", "gateway" => gateway, "reason" => reason)
                .increment(0);
        }
        for kind in known.webhook_kinds.iter().chain(&[UNKNOWN_KIND]) {
            if *kind != UNKNOWN_KIND {
                metrics::counter!("webhooks_processed_total", "gateway" => gateway, "kind" => *kind).increment(0);
            }
            metrics::counter!("webhooks_failed_total", "gateway" => gateway, "kind" => *kind)
                .increment(0);
        }
    }
    for &(queue, job) in known.jobs {
        for outcome in JOB_OUTCOMES {
            metrics::counter!("jobs_run_total", "queue" => queue, "job" => job, "outcome" => outcome).increment(0);
        }
        let _ = metrics::histogram!("job_duration_seconds", "queue" => queue, "job" => job);
    }
    for &queue in known.queues {
        metrics::counter!("worker_restarts_total", "queue" => queue).increment(0);
        for result in ["claimed", "empty"] {
            metrics::counter!("job_fetches_total", "queue" => queue, "result" => result)
                .increment(0);
        }
    }
    for step in Step::ALL {
        metrics::counter!("saga_step_retries_total", "step" => step.as_str()).increment(0);
    }
    for reason in COMPENSATION_REASONS {
        metrics::counter!("compensations_total", "reason" => reason).increment(0);
    }
    for result in CACHE_RESULTS {
        metrics::counter!("session_cache_lookups_total", "result" => result).increment(0);
    }
    for &group in known.ratelimit_groups {
        metrics::counter!("ratelimit_rejected_total", "group" => group).increment(0);
    }
    for &schedule in known.cron_schedules {
        metrics::counter!("cron_ticks_total", "schedule" => schedule).increment(0);
    }
    for result in ["succeeded", "failed", "dead"] {
        metrics::counter!("webhook_deliveries_total", "result" => result).increment(0);
    }
    for pool in READ_POOLS {
        metrics::counter!("db_reads_routed_total", "pool" => pool).increment(0);
    }
    // `invoices_issued_total{supply_type}`, `credit_notes_issued_total{supply_type}`
    for supply_type in SupplyType::ALL.map(|t| t.as_str()) {
        metrics::counter!("invoices_issued_total", "supply_type" => supply_type).increment(0);
        metrics::counter!("credit_notes_issued_total", "supply_type" => supply_type).increment(0);
    }
}

/// The gauges `jobs_ready` and `jobs_oldest_ready_seconds` at zero for every queue, in
/// the roles that sample them (only there: a zero elsewhere would hide a sampler that
/// stopped).
pub fn register_queue_gauges(queues: &[&'static str]) {
    for &queue in queues {
        metrics::gauge!("jobs_ready", "queue" => queue).set(0.0);
        metrics::gauge!("jobs_oldest_ready_seconds", "queue" => queue).set(0.0);
    }
}

fn describe() {
    use Unit::{Count, Seconds};
    let counters: &[(&'static str, &'static str)] = &[
        (
            "http_requests_total",
            "API requests by route template, method and status",
        ),
        ("carts_created_total", "carts created"),
        ("carts_converted_total", "carts that became an order"),
        ("orders_created_total", "orders created"),
        ("enrollments_total", "orders enrolled"),
        (
            "payments_succeeded_total",
            "payments captured for an order, once per payment",
        ),
        ("payments_failed_total", "payments that failed, by reason"),
        ("webhooks_received_total", "verified webhooks stored"),
        (
            "webhooks_rejected_total",
            "webhooks refused for their signature",
        ),
        (
            "webhooks_unmatched_total",
            "verified webhooks naming no order we know",
        ),
        (
            "webhooks_processed_total",
            "verified webhooks handled, by parsed kind",
        ),
        (
            "webhooks_failed_total",
            "webhooks not processed: bad signature, unparseable or an intake error",
        ),
        ("jobs_run_total", "jobs run by queue, job and outcome"),
        ("job_fetches_total", "worker fetches by result"),
        (
            "worker_restarts_total",
            "workers restarted by their supervisor",
        ),
        (
            "saga_step_retries_total",
            "delayed retries a saga step scheduled for itself",
        ),
        (
            "compensations_total",
            "compensations started, by the order status that started them",
        ),
        ("refunds_requested_total", "refunds decided, by reason"),
        ("refunds_processed_total", "refunds the gateway completed"),
        ("refunds_failed_total", "refunds raised to an operator"),
        (
            "gateway_requests_total",
            "calls to the payment gateways by operation and outcome",
        ),
        (
            "gateway_circuit_rejected_total",
            "gateway calls the circuit breaker refused",
        ),
        (
            "idempotency_replays_total",
            "stored responses replayed for a repeated Idempotency-Key",
        ),
        (
            "ratelimit_rejected_total",
            "requests answered 429, by route group",
        ),
        (
            "ratelimit_backend_errors_total",
            "rate-limit backend failures (requests let through)",
        ),
        (
            "session_cache_lookups_total",
            "auth session cache lookups by result",
        ),
        (
            "reconciliation_recovered_total",
            "orders paid that reconciliation found at the gateway with no webhook received",
        ),
        ("cron_ticks_total", "cron ticks run"),
        (
            "events_published_total",
            "outbox events the broker confirmed",
        ),
        (
            "webhook_deliveries_total",
            "webhook delivery attempts to subscribers by result",
        ),
        (
            "db_reads_routed_total",
            "staleness-tolerant reads by the pool that answered them",
        ),
        (
            "invoices_issued_total",
            "GST tax invoices issued, by supply type (b2c, b2b, export)",
        ),
        (
            "credit_notes_issued_total",
            "GST credit notes issued for processed refunds, by supply type",
        ),
    ];
    for (name, help) in counters {
        describe_counter!(*name, Count, *help);
    }
    let histograms: &[(&'static str, &'static str)] = &[
        ("http_request_duration_seconds", "API request latency"),
        (
            "webhook_processing_seconds",
            "time to verify and take in a webhook",
        ),
        ("job_duration_seconds", "job run time"),
        (
            "gateway_request_seconds",
            "latency of calls to the payment gateways",
        ),
        (
            "db_pool_acquire_seconds",
            "wait for a pooled database connection",
        ),
    ];
    for (name, help) in histograms {
        describe_histogram!(*name, Seconds, *help);
    }
    let gauges: &[(&'static str, Unit, &'static str)] = &[
        ("jobs_ready", Count, "jobs due to run and not yet taken"),
        (
            "jobs_oldest_ready_seconds",
            Seconds,
            "age of the oldest job due and not taken",
        ),
        (
            "gateway_circuit_open",
            Count,
            "1 while the gateway's circuit breaker is open",
        ),
        (
            "db_pool_connections",
            Count,
            "pooled database connections by state",
        ),
        ("db_pool_max_connections", Count, "the pool's maximum size"),
        (
            "db_pool_waiters",
            Count,
            "tasks waiting for a pooled connection",
        ),
        (
            "outbox_unpublished",
            Count,
            "outbox events not yet published (up to 100,000)",
        ),
        (
            "outbox_oldest_unpublished_seconds",
            Seconds,
            "age of the oldest unpublished event",
        ),
        ("scheduler_is_leader", Count, "1 on the leading scheduler"),
        (
            "db_replica_up",
            Count,
            "1 while the read replica answers as a standby",
        ),
        (
            "db_replica_serving",
            Count,
            "1 while staleness-tolerant reads go to the replica",
        ),
        (
            "db_replica_lag_seconds",
            Seconds,
            "how long the primary has had WAL the replica has not replayed",
        ),
    ];
    for (name, unit, help) in gauges {
        describe_gauge!(*name, *unit, *help);
    }
}
