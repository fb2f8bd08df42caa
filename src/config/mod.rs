//! Typed settings: defaults -> optional TOML file -> `CHECKOUT__SECTION__KEY` environment
//! variables, validated once at start-up. One file per section (the four gateway sections
//! `razorpay`, `stripe`, `payments` and `sandbox` sit together in `gateways/`, sharing its
//! checks and deserializers); this one puts them together and checks the relations between keys.
//!
//! This layer imports nothing above [`crate::domain`].
//!
//! Every struct denies unknown fields, so a typo in a file or an environment variable
//! (`CHECKOUT__WORKER__BATCHSIZE`) stops start-up with a message naming the key instead of
//! being silently ignored. Secrets are [`SecretString`] so they never reach a log line
//! through `Debug`.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::ExposeSecret;
use serde::Deserialize;

mod auth;
mod cart;
mod checkout;
mod cors;
mod database;
mod events;
mod gateways;
mod http;
mod idempotency;
mod invoices;
mod log;
mod pricing;
mod ratelimit;
mod refunds;
mod scheduler;
mod security;
mod subscriptions;
mod telemetry;
mod worker;

pub use auth::{AuthSettings, LOGIN_PAIR_MEMORY_SECS, MIN_JWT_SECRET_BYTES};
pub use cart::CartSettings;
pub use checkout::CheckoutSettings;
pub use cors::CorsSettings;
pub use database::DatabaseSettings;
pub use events::EventsSettings;
pub use gateways::{
    CaptureMethod, PaymentsSettings, RazorpaySettings, SandboxSettings, StripeSettings,
};
pub use http::HttpSettings;
pub use idempotency::IdempotencySettings;
pub use invoices::InvoiceSettings;
pub use log::{LogFormat, LogSettings};
pub use pricing::PricingSettings;
pub use ratelimit::{IpNet, LIMITED_GROUPS, Quota, RateLimitSettings};
pub use refunds::RefundSettings;
pub use scheduler::{SchedulerSettings, parse_schedule};
pub use security::SecuritySettings;
pub use subscriptions::SubscriptionSettings;
pub use telemetry::{Sampling, TelemetrySettings, TraceExport};
pub use worker::WorkerSettings;

/// Environment variable prefix; `__` separates section and key.
pub const ENV_PREFIX: &str = "CHECKOUT__";

/// All settings of every role. Each section documents its keys; docs/configuration.md lists them.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub worker: WorkerSettings,
    pub scheduler: SchedulerSettings,
    pub log: LogSettings,
    /// OpenTelemetry traces (`OTEL_*` variables win).
    pub telemetry: TelemetrySettings,
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
    /// How refunds the gateway has not settled are followed and retried.
    pub refunds: RefundSettings,
    /// GST tax invoices and credit notes: the supplier, number series and SAC codes.
    pub invoices: InvoiceSettings,
    /// The relay publishing the outbox to RabbitMQ (`checkout relay`).
    pub events: EventsSettings,
    /// Signed webhook deliveries of events to registered endpoints.
    pub subscriptions: SubscriptionSettings,
    /// The local sandbox gateway (`checkout sandbox`, and inside `dev`).
    pub sandbox: SandboxSettings,
    pub idempotency: IdempotencySettings,
    pub ratelimit: RateLimitSettings,
    pub cors: CorsSettings,
    pub security: SecuritySettings,
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
        self.database.problems(&mut check);
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
            (1..=3600).contains(&self.worker.metrics_sample_secs),
            "worker.metrics_sample_secs",
            "must be between 1 and 3600",
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
        self.telemetry.problems(&mut check);
        self.scheduler.problems(&mut check);
        check(
            self.scheduler.login_attempt_retention_secs
                >= LOGIN_PAIR_MEMORY_SECS.max(self.auth.login_window_secs),
            "scheduler.login_attempt_retention_secs",
            "must be at least 86400 and at least auth.login_window_secs (the login backoff \
             remembers failures that long)",
        );
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
        problems.extend(self.razorpay.validate());
        problems.extend(self.stripe.validate());
        problems.extend(self.payments.validate());
        problems.extend(self.sandbox.validate());
        problems.extend(self.idempotency.problems());
        problems.extend(self.ratelimit.problems());
        problems.extend(self.refunds.problems());
        problems.extend(self.invoices.problems(self.pricing.supplier_state().ok()));
        problems.extend(self.events.problems());
        problems.extend(self.subscriptions.problems());
        problems.extend(self.cors.problems());
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

/// One sentence per figment error: the key as a path (`worker.batch_size`), where it
/// came from (the TOML file's path, or the environment variable), what is wrong and
/// what to do.
fn describe(error: figment::Error) -> ConfigError {
    let problems: Vec<String> = error
        .into_iter()
        .map(|e| {
            let mut path = e.path.clone();
            let unknown = match &e.kind {
                figment::error::Kind::UnknownField(field, _) => {
                    // figment's path sometimes ends with the field already
                    if path.last() != Some(field) {
                        path.push(field.clone());
                    }
                    true
                }
                _ => false,
            };
            if path.is_empty() {
                return e.kind.to_string();
            }
            let key = path.join(".");
            let source = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                Some(figment::Source::File(file)) => format!("in {}", file.display()),
                _ => {
                    let env: Vec<String> = path.iter().map(|p| p.to_uppercase()).collect();
                    format!("from environment variable {ENV_PREFIX}{}", env.join("__"))
                }
            };
            if unknown {
                format!(
                    "unknown key `{key}` {source}: remove it or correct its name \
                     (docs/configuration.md lists every key)"
                )
            } else {
                format!("bad value for `{key}` {source}: {}", e.kind)
            }
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
    fn login_attempts_are_kept_as_long_as_the_backoff_remembers_them() {
        let mut s = Settings::default();
        s.scheduler.login_attempt_retention_secs = 3_600;
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.contains("scheduler.login_attempt_retention_secs"),
            "{err}"
        );
        let mut s = Settings::default();
        s.stripe.capture_method = CaptureMethod::Manual;
        assert!(s.validate().is_ok(), "manual capture is supported");
        s.refunds.poll_max_ms = 5;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("refunds.poll_max_ms"), "{err}");
    }

    #[test]
    fn the_replica_settings_load_from_the_environment_and_are_checked() {
        figment::Jail::expect_with(|jail| {
            let s = Settings::load(None).unwrap();
            assert!(
                s.database.replica_url.is_none(),
                "no replica unless configured"
            );
            jail.set_env(
                "CHECKOUT__DATABASE__REPLICA_URL",
                "postgres://postgres@127.0.0.1:5433/checkout",
            );
            jail.set_env("CHECKOUT__DATABASE__REPLICA_MAX_LAG_MS", "2500");
            let s = Settings::load(None).unwrap();
            assert!(s.database.replica_url.is_some());
            assert_eq!(s.database.replica_max_lag_ms, 2_500);
            jail.set_env("CHECKOUT__DATABASE__REPLICA_URL", "mysql://x");
            jail.set_env("CHECKOUT__DATABASE__REPLICA_MAX_LAG_MS", "10");
            jail.set_env("CHECKOUT__DATABASE__REPLICA_MAX_CONNECTIONS", "0");
            let err = Settings::load(None).unwrap_err().to_string();
            for key in [
                "database.replica_url",
                "database.replica_max_lag_ms",
                "database.replica_max_connections",
            ] {
                assert!(err.contains(key), "{key}: {err}");
            }
            Ok(())
        });
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
    fn metrics_sample_period_is_set_and_checked() {
        assert_eq!(Settings::default().worker.metrics_sample_secs, 5);
        figment::Jail::expect_with(|jail| {
            jail.set_env("CHECKOUT__WORKER__METRICS_SAMPLE_SECS", "2");
            assert_eq!(Settings::load(None).unwrap().worker.metrics_sample_secs, 2);
            jail.set_env("CHECKOUT__WORKER__METRICS_SAMPLE_SECS", "0");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("worker.metrics_sample_secs"), "{err}");
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
    fn an_unknown_key_is_named_once_with_its_source() {
        let err = load_with_env(&[("CHECKOUT__HTTP__PROT", "1")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid configuration: unknown key `http.prot` from environment variable \
             CHECKOUT__HTTP__PROT: remove it or correct its name (docs/configuration.md \
             lists every key)"
        );
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[http]\nprot = 1\n")?;
            let err = Settings::load(Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("unknown key `http.prot` in "), "{err}");
            assert!(err.contains("c.toml"), "{err}");
            assert!(!err.contains("CHECKOUT__"), "{err}");
            Ok(())
        });
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
    fn the_invoice_supplier_must_be_in_the_pricing_state() {
        let err = load_with_env(&[("CHECKOUT__PRICING__SUPPLIER_STATE", "MH")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invoices.supplier_gstin"), "{err}");
        assert!(err.contains("pricing.supplier_state"), "{err}");
        let s = load_with_env(&[
            ("CHECKOUT__PRICING__SUPPLIER_STATE", "MH"),
            ("CHECKOUT__INVOICES__SUPPLIER_GSTIN", "27AAKCT4821M1ZV"),
            ("CHECKOUT__INVOICES__SERIES_PREFIX", "MH"),
        ])
        .unwrap();
        assert_eq!(s.invoices.series_prefix, "MH");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Settings::load(Some(Path::new("/nonexistent/checkout.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }
}
