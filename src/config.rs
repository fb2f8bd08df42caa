//! Typed settings: defaults -> optional TOML file -> `CHECKOUT__SECTION__KEY` environment
//! variables, validated once at start-up.
//!
//! Every struct denies unknown fields, so a typo in a file or an environment variable
//! (`CHECKOUT__WORKER__BATCHSIZE`) stops start-up with a message naming the key instead of
//! being silently ignored. Secrets are [`SecretString`] so they never reach a log line
//! through `Debug`.

use std::net::IpAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use crate::api::settings::{
    CorsSettings, IdempotencySettings, Quota, RateLimitSettings, SecuritySettings,
};
use crate::gateways::{PaymentsSettings, RazorpaySettings, SandboxSettings, StripeSettings};

/// Environment variable prefix; `__` separates section and key.
pub const ENV_PREFIX: &str = "CHECKOUT__";

/// All settings of every role. Each section documents its keys; the README has the table.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub worker: WorkerSettings,
    pub scheduler: SchedulerSettings,
    pub log: LogSettings,
    /// The checkout workflow (session TTL, retries, redirect allow-list).
    pub checkout: CheckoutSettings,
    pub cart: CartSettings,
    pub pricing: PricingSettings,
    pub auth: AuthSettings,
    /// Razorpay client (`CHECKOUT__RAZORPAY__KEY_ID`, `..__KEY_SECRET`, `..__WEBHOOK_SECRET`,
    /// `..__BASE_URL`). A gateway without keys is not offered.
    pub razorpay: RazorpaySettings,
    /// Stripe client (`CHECKOUT__STRIPE__SECRET_KEY`, `..__WEBHOOK_SECRET`, `..__BASE_URL`).
    pub stripe: StripeSettings,
    /// Failover order (`CHECKOUT__PAYMENTS__GATEWAYS`), retries and circuit breakers.
    pub payments: PaymentsSettings,
    /// The local sandbox gateway (`checkout sandbox`, and inside `dev`).
    pub sandbox: SandboxSettings,
    pub idempotency: IdempotencySettings,
    pub ratelimit: RateLimitSettings,
    pub cors: CorsSettings,
    pub security: SecuritySettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// Postgres URL. Also `DATABASE_URL` or `--database-url`, which win over this key.
    pub url: Option<SecretString>,
    /// Pool size per process (its LISTEN connections come on top, one per channel).
    /// Jobs and requests queue for a connection rather than each holding one: past a
    /// few connections per database core, more backends only contend for the cores and
    /// the hot rows (measured on 2 cores, returning students' checkouts: 6 working
    /// connections completed more a second than 4, 8 or 18, with 11-25 % less Postgres
    /// CPU per checkout than 8 or 18; BENCHMARKS.md). Raise it with the database's
    /// cores, not with the workers' concurrency: nothing holds a connection across a
    /// gateway call.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing (ms).
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 6,
            acquire_timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address `serve` and `dev` bind to.
    pub host: IpAddr,
    /// Port `serve` and `dev` bind to (`--port` wins); 0 picks a free port.
    pub port: u16,
    /// Upper bound for one request, after which it is answered 503 in the envelope.
    pub request_timeout_ms: u64,
    /// Largest accepted request body (bytes); larger -> 413.
    pub body_limit_bytes: usize,
    /// A client must send its request headers within this (ms) or the connection is
    /// closed, so slow clients cannot hold connections open.
    pub header_read_timeout_ms: u64,
    /// How long in-flight requests and jobs may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// More request headers than this -> 431 (code 9009). Keep it below hyper's own
    /// limit of 100, which answers without the envelope.
    pub max_headers: usize,
    /// Total bytes of header names and values above this -> 431 (code 9009).
    pub max_header_bytes: usize,
    /// JSON bodies nested deeper than this are refused (422) before deserialising.
    pub json_max_depth: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            request_timeout_ms: 10_000,
            body_limit_bytes: 64 * 1024,
            header_read_timeout_ms: 10_000,
            shutdown_grace_secs: 20,
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            json_max_depth: 32,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Jobs one worker process runs at once per queue.
    pub concurrency: usize,
    /// Jobs claimed per fetch (apalis' default of 10 slows as a backlog drains).
    pub batch_size: usize,
    /// Heartbeat period (s); a worker silent for `heartbeat_secs * missed_heartbeats`
    /// is dead and its claimed jobs are re-enqueued by the others.
    pub heartbeat_secs: u64,
    pub missed_heartbeats: usize,
    /// Upper bound for one job; a hung handler is cancelled and its job retried.
    pub job_timeout_secs: u64,
    /// Fallback wake-up period (ms) besides LISTEN/NOTIFY: scheduled jobs (`run_at` in the
    /// future) send no notification, nor do jobs the orphan rescue or an operator puts
    /// back. Each idle queue fetches once per period (5 queues: 10 fetches/s per worker
    /// process at 500 ms, 50 at 100 ms); apalis keeps `run_at` in whole seconds anyway.
    pub wake_interval_ms: u64,
    /// Port of the worker's own `/healthz` and `/readyz`; 0 picks a free one (logged).
    pub health_port: u16,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            batch_size: 50,
            heartbeat_secs: 5,
            missed_heartbeats: 3,
            job_timeout_secs: 60,
            wake_interval_ms: 500,
            health_port: 0,
        }
    }
}

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
    /// Login attempts are deleted this long after they were made (s); keep it above
    /// `auth.login_window_secs`.
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

    fn problems(&self, check: &mut impl FnMut(bool, &str, &str)) {
        for (name, expr) in self.schedules() {
            check(
                crate::workflows::cron::parse_schedule(expr).is_ok(),
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CartSettings {
    /// Lifetime of a cart (s), renewed by every write; a cart past it answers 1002.
    pub ttl_secs: u64,
    /// Distinct items (program + plan) one cart may hold; one more -> 1005.
    pub max_items: u32,
    /// Largest quantity of one item; more (or less than 1) -> 1006.
    pub max_quantity: u32,
    /// Analytics events kept per cart (the oldest are dropped), so a client cannot grow
    /// a row without bound.
    pub max_analytics_events: u32,
}

impl Default for CartSettings {
    fn default() -> Self {
        Self {
            ttl_secs: 24 * 60 * 60,
            max_items: 10,
            max_quantity: 5,
            max_analytics_events: 50,
        }
    }
}

impl CartSettings {
    pub fn ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.ttl_secs).unwrap_or(i64::MAX / 1000))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PricingSettings {
    /// The state of our GST registration: buyers there pay CGST + SGST, buyers in other
    /// states IGST. Code ("KA"), GST code ("29") or name.
    pub supplier_state: String,
    /// Oldest FX rate (hours) a non-INR price may use; older -> 2003 instead of a
    /// silently stale price.
    pub fx_max_age_hours: u64,
    /// Currency of a cart whose creation request names none.
    pub default_currency: String,
}

impl Default for PricingSettings {
    fn default() -> Self {
        Self {
            supplier_state: "KA".into(),
            fx_max_age_hours: 72,
            default_currency: "INR".into(),
        }
    }
}

impl PricingSettings {
    /// The supplier state (checked by `Settings::validate`).
    pub fn supplier_state(
        &self,
    ) -> Result<crate::domain::IndianState, crate::domain::india::UnknownState> {
        crate::domain::IndianState::parse(&self.supplier_state)
    }

    /// The default cart currency (checked by `Settings::validate`).
    pub fn default_currency(&self) -> Result<crate::domain::Currency, crate::domain::MoneyError> {
        crate::domain::Currency::parse(&self.default_currency)
    }

    pub fn fx_max_age(&self) -> chrono::Duration {
        chrono::Duration::hours(
            i64::try_from(self.fx_max_age_hours).unwrap_or(i64::MAX / 3_600_000),
        )
    }
}

/// The checkout workflow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutSettings {
    /// How long a payment session stays payable (s); seat holds last this plus
    /// `hold_grace_secs`, so a payment at the last second still finds its seat.
    pub session_ttl_secs: u64,
    pub hold_grace_secs: u64,
    /// How long `POST /api/v1/order` waits for the payment session before answering
    /// 202 with a `Location` to poll (ms).
    pub order_wait_ms: u64,
    /// Runs of one step before the order fails and is compensated.
    pub step_max_attempts: u32,
    /// Backoff of delayed retries: first wait up to `retry_base_ms`, doubling, capped.
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
    /// Upper bound for one step run (s); a hung gateway call is retried.
    pub step_timeout_secs: u64,
    /// Orders awaiting payment longer than this are reconciled with the gateway (s), on
    /// the `scheduler.reconcile` schedule.
    pub reconcile_after_secs: u64,
    /// Crash testing only (0 = off): a worker sleeps this long right after a step's
    /// side effect (the gateway call of `payment_session`, the commit of the others),
    /// before the job is acknowledged, so a test can SIGKILL it there.
    pub pause_after_side_effect_ms: u64,
    /// Origins `return_url`/`cancel_url` may point to (no open redirects).
    pub allowed_redirect_origins: Vec<String>,
    /// Base URL of the storefront, for default return and cancel URLs.
    pub public_base_url: String,
}

impl Default for CheckoutSettings {
    fn default() -> Self {
        Self {
            session_ttl_secs: 30 * 60,
            hold_grace_secs: 5 * 60,
            order_wait_ms: 3_000,
            step_max_attempts: 8,
            retry_base_ms: 500,
            retry_cap_ms: 60_000,
            step_timeout_secs: 30,
            reconcile_after_secs: 10 * 60,
            pause_after_side_effect_ms: 0,
            allowed_redirect_origins: vec![
                "http://127.0.0.1:8080".into(),
                "http://localhost:8080".into(),
            ],
            public_base_url: "http://127.0.0.1:8080".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. `info,checkout=debug`. `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info,sqlx::postgres::notice=warn".into(),
        }
    }
}

/// Accounts and tokens. Access tokens are short-lived HS256 JWTs signed with
/// `jwt_secret`; refresh tokens are random, stored hashed, rotated on every use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 signing key of access tokens, at least 32 bytes. Required by `serve`;
    /// `dev` makes up a random one when unset (tokens then die with the process).
    pub jwt_secret: Option<SecretString>,
    /// `iss` of the tokens we issue, and the only one we accept for HS256.
    pub issuer: String,
    /// `aud` of the tokens we issue, and the only one we accept for HS256.
    pub audience: String,
    /// Lifetime of an access token (s). Short: access tokens are not revocable
    /// one by one, only through their session.
    pub access_ttl_secs: u64,
    /// Idle lifetime of a session (s): each refresh pushes its expiry this far ahead.
    pub refresh_ttl_secs: u64,
    /// Clock skew tolerated on `exp` and `iat` (s).
    pub leeway_secs: u64,
    /// How long an API process remembers a session it found live (ms), sparing the
    /// session read of a student's next requests. Revocations anywhere reach every
    /// process at their commit (LISTEN/NOTIFY) and end the memory at once; this bounds
    /// it if a notification is lost. 0 reads the session on every request.
    pub session_cache_ms: u64,
    /// PEM public key (RSA) of an external identity provider whose RS256 tokens are
    /// accepted too. All three `external_*` keys or none.
    pub external_public_key_pem: Option<String>,
    /// `iss` the external provider's tokens must carry.
    pub external_issuer: Option<String>,
    /// `aud` the external provider's tokens must carry.
    pub external_audience: Option<String>,
    /// Window in which failed logins are counted (s).
    pub login_window_secs: u64,
    /// Failed logins per normalised email within the window before 429.
    pub login_max_per_account: u32,
    /// Failed logins per client address within the window before 429.
    pub login_max_per_address: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            issuer: "checkout".into(),
            audience: "checkout-api".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            leeway_secs: 10,
            session_cache_ms: 10_000,
            external_public_key_pem: None,
            external_issuer: None,
            external_audience: None,
            login_window_secs: 15 * 60,
            login_max_per_account: 5,
            login_max_per_address: 50,
        }
    }
}

/// Shortest accepted `auth.jwt_secret` (bytes): 256 bits for HS256.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl AuthSettings {
    fn problems(&self, check: &mut impl FnMut(bool, &str, &str)) {
        if let Some(secret) = &self.jwt_secret {
            check(
                secret.expose_secret().len() >= MIN_JWT_SECRET_BYTES,
                "auth.jwt_secret",
                "must be at least 32 bytes",
            );
        }
        check(!self.issuer.is_empty(), "auth.issuer", "must not be empty");
        check(
            !self.audience.is_empty(),
            "auth.audience",
            "must not be empty",
        );
        check(
            (60..=24 * 3600).contains(&self.access_ttl_secs),
            "auth.access_ttl_secs",
            "must be between 60 and 86400",
        );
        check(
            self.refresh_ttl_secs > self.access_ttl_secs && self.refresh_ttl_secs <= 366 * 86400,
            "auth.refresh_ttl_secs",
            "must be longer than auth.access_ttl_secs and at most 366 days",
        );
        check(
            self.leeway_secs <= 300,
            "auth.leeway_secs",
            "must be at most 300",
        );
        check(
            self.session_cache_ms <= 60_000,
            "auth.session_cache_ms",
            "must be at most 60000",
        );
        let external = [
            self.external_public_key_pem.is_some(),
            self.external_issuer.is_some(),
            self.external_audience.is_some(),
        ];
        check(
            external.iter().all(|x| *x) || external.iter().all(|x| !*x),
            "auth.external_public_key_pem",
            "set external_public_key_pem, external_issuer and external_audience together",
        );
        if let Some(pem) = &self.external_public_key_pem {
            check(
                jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).is_ok(),
                "auth.external_public_key_pem",
                "is not an RSA public key in PEM",
            );
        }
        check(
            self.login_window_secs >= 1,
            "auth.login_window_secs",
            "must be at least 1",
        );
        check(
            self.login_max_per_account >= 1,
            "auth.login_max_per_account",
            "must be at least 1",
        );
        check(
            self.login_max_per_address >= 1,
            "auth.login_max_per_address",
            "must be at least 1",
        );
    }
}

/// A setting that is missing or wrong; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads defaults, then `file` if given, then `CHECKOUT__*` variables, then validates.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let settings: Settings = figment.extract().map_err(describe)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values serde cannot: ranges and relations between keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, why: &str| {
            if !ok {
                problems.push(format!("{key}: {why}"));
            }
        };
        check(
            self.database.max_connections >= 2,
            "database.max_connections",
            "must be at least 2",
        );
        check(
            self.worker.concurrency >= 1,
            "worker.concurrency",
            "must be at least 1",
        );
        check(
            (1..=1000).contains(&self.worker.batch_size),
            "worker.batch_size",
            "must be between 1 and 1000",
        );
        check(
            self.worker.heartbeat_secs >= 1,
            "worker.heartbeat_secs",
            "must be at least 1",
        );
        check(
            self.worker.missed_heartbeats >= 1,
            "worker.missed_heartbeats",
            "must be at least 1",
        );
        check(
            self.worker.job_timeout_secs >= 1,
            "worker.job_timeout_secs",
            "must be at least 1",
        );
        check(
            (10..=60_000).contains(&self.worker.wake_interval_ms),
            "worker.wake_interval_ms",
            "must be between 10 and 60000",
        );
        check(
            self.http.request_timeout_ms >= 100,
            "http.request_timeout_ms",
            "must be at least 100",
        );
        check(
            self.http.body_limit_bytes >= 1024,
            "http.body_limit_bytes",
            "must be at least 1024",
        );
        self.auth.problems(&mut check);
        self.scheduler.problems(&mut check);
        check(
            self.cart.ttl_secs >= 60,
            "cart.ttl_secs",
            "must be at least 60",
        );
        check(
            (1..=100).contains(&self.cart.max_items),
            "cart.max_items",
            "must be between 1 and 100",
        );
        check(
            (1..=1000).contains(&self.cart.max_quantity),
            "cart.max_quantity",
            "must be between 1 and 1000",
        );
        check(
            self.cart.max_analytics_events <= 10_000,
            "cart.max_analytics_events",
            "must be at most 10000",
        );
        check(
            crate::domain::IndianState::parse(&self.pricing.supplier_state).is_ok(),
            "pricing.supplier_state",
            "must be an Indian state code, GST code or name",
        );
        check(
            crate::domain::Currency::parse(&self.pricing.default_currency).is_ok(),
            "pricing.default_currency",
            "must be a supported currency code",
        );
        check(
            self.pricing.fx_max_age_hours >= 1,
            "pricing.fx_max_age_hours",
            "must be at least 1",
        );
        check(
            (8..=99).contains(&self.http.max_headers),
            "http.max_headers",
            "must be between 8 and 99",
        );
        check(
            self.http.max_header_bytes >= 1024,
            "http.max_header_bytes",
            "must be at least 1024",
        );
        check(
            (2..=128).contains(&self.http.json_max_depth),
            "http.json_max_depth",
            "must be between 2 and 128",
        );
        let c = &self.checkout;
        check(
            c.session_ttl_secs >= 60,
            "checkout.session_ttl_secs",
            "must be at least 60",
        );
        check(
            c.step_max_attempts >= 1,
            "checkout.step_max_attempts",
            "must be at least 1",
        );
        check(
            c.retry_base_ms >= 1 && c.retry_cap_ms >= c.retry_base_ms,
            "checkout.retry_cap_ms",
            "must be at least checkout.retry_base_ms (>= 1)",
        );
        check(
            c.order_wait_ms <= 30_000,
            "checkout.order_wait_ms",
            "must be at most 30000",
        );
        for origin in &c.allowed_redirect_origins {
            check(
                origin.starts_with("http://") || origin.starts_with("https://"),
                "checkout.allowed_redirect_origins",
                "each origin must start with http:// or https://",
            );
        }
        if let Some(url) = &self.database.url {
            let url = url.expose_secret();
            check(
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "database.url",
                "must start with postgres:// or postgresql://",
            );
        }
        problems.extend(self.razorpay.validate());
        problems.extend(self.stripe.validate());
        problems.extend(self.payments.validate());
        problems.extend(self.sandbox.validate());
        problems.extend(crate::api::settings::problems(
            &self.idempotency,
            &self.ratelimit,
            &self.cors,
        ));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems.join("; ")))
        }
    }

    /// The database URL, if any source set one.
    pub fn database_url(&self) -> Option<&str> {
        self.database.url.as_ref().map(|u| u.expose_secret())
    }
}

/// Figment errors name the key as a path (`worker.batch_size`); keep that, drop the
/// provider noise, and say which environment variable it maps to.
fn describe(error: figment::Error) -> ConfigError {
    let problems: Vec<String> = error
        .into_iter()
        .map(|e| {
            let mut path = e.path.clone();
            let kind = match &e.kind {
                figment::error::Kind::UnknownField(field, _) => {
                    path.push(field.clone());
                    "unknown key".to_owned()
                }
                other => other.to_string(),
            };
            if path.is_empty() {
                return kind;
            }
            let env: Vec<String> = path.iter().map(|p| p.to_uppercase()).collect();
            format!(
                "{} (env {ENV_PREFIX}{}): {kind}",
                path.join("."),
                env.join("__")
            )
        })
        .collect();
    ConfigError(problems.join("; "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
    use super::*;

    /// Runs `f` with the given environment in a figment jail (isolated env and cwd).
    fn load_with_env(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut out = None;
        figment::Jail::expect_with(|jail| {
            for (k, v) in vars {
                jail.set_env(k, v);
            }
            out = Some(Settings::load(None));
            Ok(())
        });
        out.unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn env_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CHECKOUT__WORKER__BATCH_SIZE", "77");
            jail.set_env("CHECKOUT__LOG__FORMAT", "pretty");
            let s = Settings::load(None).unwrap();
            assert_eq!(s.worker.batch_size, 77);
            assert_eq!(s.log.format, LogFormat::Pretty);
            Ok(())
        });
    }

    #[test]
    fn file_then_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[worker]\nbatch_size = 5\nconcurrency = 3\n")?;
            jail.set_env("CHECKOUT__WORKER__CONCURRENCY", "9");
            let s = Settings::load(Some(Path::new("c.toml"))).unwrap();
            assert_eq!(s.worker.batch_size, 5);
            assert_eq!(s.worker.concurrency, 9);
            Ok(())
        });
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load_with_env(&[("CHECKOUT__WORKER__BATCHSIZE", "5")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("worker.batchsize"), "{err}");
        assert!(err.contains("CHECKOUT__WORKER__BATCHSIZE"), "{err}");
    }

    #[test]
    fn invalid_value_is_named() {
        let err = load_with_env(&[("CHECKOUT__HTTP__PORT", "eighty")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.port"), "{err}");
        assert!(err.contains("CHECKOUT__HTTP__PORT"), "{err}");
    }

    #[test]
    fn range_violation_is_named() {
        let err = load_with_env(&[("CHECKOUT__WORKER__BATCH_SIZE", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("worker.batch_size"), "{err}");
    }

    #[test]
    fn short_jwt_secret_is_named() {
        let err = load_with_env(&[("CHECKOUT__AUTH__JWT_SECRET", "short")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.jwt_secret"), "{err}");
        assert!(!err.contains("short"), "the secret leaked: {err}");
        let ok = load_with_env(&[("CHECKOUT__AUTH__JWT_SECRET", &"k".repeat(32))]).unwrap();
        assert!(ok.auth.jwt_secret.is_some());
    }

    #[test]
    fn external_idp_keys_go_together() {
        let err = load_with_env(&[("CHECKOUT__AUTH__EXTERNAL_ISSUER", "https://idp")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.external_public_key_pem"), "{err}");
    }

    #[test]
    fn hardening_sections_from_env() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "CHECKOUT__CORS__ALLOWED_ORIGINS",
                r#"["https://shop.example"]"#,
            );
            jail.set_env("CHECKOUT__RATELIMIT__TRUSTED_PROXIES", r#"["10.0.0.0/8"]"#);
            jail.set_env("CHECKOUT__RATELIMIT__REDIS_URL", "redis://127.0.0.1:6379");
            jail.set_env("CHECKOUT__RATELIMIT__ORDER_BURST", "2");
            jail.set_env("CHECKOUT__IDEMPOTENCY__TTL_HOURS", "48");
            let s = Settings::load(None).unwrap();
            assert_eq!(s.cors.allowed_origins, ["https://shop.example"]);
            assert_eq!(s.ratelimit.trusted_proxies, ["10.0.0.0/8"]);
            assert_eq!(s.ratelimit.redis_url(), Some("redis://127.0.0.1:6379"));
            let order = s.ratelimit.quota("order").unwrap();
            assert_eq!((order.per_minute, order.burst), (20, 2));
            assert_eq!(s.idempotency.ttl_hours, 48);
            Ok(())
        });
        for (key, value) in [
            ("CHECKOUT__CORS__ALLOWED_ORIGINS", r#"["*"]"#),
            ("CHECKOUT__RATELIMIT__TRUSTED_PROXIES", r#"["proxy"]"#),
            ("CHECKOUT__RATELIMIT__REDIS_URL", "http://x"),
            ("CHECKOUT__HTTP__MAX_HEADERS", "500"),
        ] {
            let err = load_with_env(&[(key, value)]).unwrap_err().to_string();
            assert!(
                err.contains("must") || err.contains("not an IP"),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn cron_schedules_are_checked_and_can_be_switched_off() {
        let err = load_with_env(&[("CHECKOUT__SCHEDULER__PRUNE", "hourly")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("scheduler.prune"), "{err}");
        let s = load_with_env(&[("CHECKOUT__SCHEDULER__PRUNE", "off")]).unwrap();
        assert_eq!(s.scheduler.prune, "off");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Settings::load(Some(Path::new("/nonexistent/checkout.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }
}
