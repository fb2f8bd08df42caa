//! `checkout loadtest`: an open-loop load generator of complete checkouts against a
//! running system (loopback only), with optional chaos (worker SIGKILLs, a Postgres
//! restart, sandbox faults), database-derived latencies, CPU and database counters per
//! checkout, and the consistency checker at the end. `--connections N` instead holds
//! N keep-alive connections doing light reads. Every loop is bounded by the run's
//! duration and the per-checkout timeout. See BENCHMARKS.md.

pub mod chaos;
pub mod connections;
pub mod dbstats;
pub mod flow;
pub mod jobs;
pub mod report;
pub mod request;
pub mod stats;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use chaos::{InFlight, Workers};
use report::{Chaos, Cpu, PerCheckout, Report};
use stats::Recorder;

/// The catalog every run imports first (idempotent), unless `--no-setup`.
pub const CATALOG: &str = include_str!("../../bench/catalog.json");

#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// The system under test: a `checkout dev`, or a `checkout serve`.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// The sandbox gateway the system pays through, as `checkout sandbox` prints it
    /// (e.g. `http://127.0.0.1:8090`); default: the one `checkout dev` serves at
    /// `--base-url`. Payments and `--fault`s go to its `/sandbox/control` API, and
    /// `--workers` point their gateway clients at it.
    #[arg(long)]
    pub sandbox_url: Option<String>,
    /// New checkouts started per second (open loop: on schedule, however slow the server).
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// How long new checkouts are started, in seconds (at most 600).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Upper bound of one checkout, from its intended start to a terminal status (s).
    #[arg(long, default_value_t = 60)]
    pub checkout_timeout: u64,
    /// Longest wait of one long poll of the order, `GET /order/{t}?wait_ms=` (ms, 1-10000).
    #[arg(long, default_value_t = 5_000)]
    pub order_wait_ms: u64,
    /// Instead of checkouts: hold N keep-alive connections doing light reads.
    #[arg(long)]
    pub connections: Option<usize>,
    /// `--connections`: seconds over which connections are opened.
    #[arg(long, default_value_t = 10.0)]
    pub ramp: f64,
    /// `--connections`: one request per connection every this many ms.
    #[arg(long, default_value_t = 10_000)]
    pub think_ms: u64,
    /// Machine-readable report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Do not import bench/catalog.json (the load-test program and coupon) first.
    #[arg(long)]
    pub no_setup: bool,
    /// Start this many `checkout worker` processes (killed at the end).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Chaos: SIGKILL one of the harness's workers every this many seconds and restart it.
    #[arg(long)]
    pub kill_worker_every: Option<f64>,
    /// Chaos: restart Postgres once, this many seconds into the run.
    #[arg(long)]
    pub restart_postgres_at: Option<f64>,
    /// The command that restarts Postgres (run with `sh -c`).
    #[arg(long, default_value = "pg_ctlcluster 15 main restart -m immediate")]
    pub postgres_restart_cmd: String,
    /// Chaos: sandbox faults `GATEWAY=JSON` (e.g. `razorpay={"error_rate":0.2}`), set
    /// before the run and cleared after. Repeatable.
    #[arg(long = "fault", value_name = "GATEWAY=JSON")]
    pub faults: Vec<String>,
    /// Server process ids whose CPU time is measured (e.g. the `checkout dev`).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// Run the consistency checker at the end (needs the database); violations -> exit 1.
    #[arg(long)]
    pub check: bool,
    /// Seconds to wait after the run before the check (lets compensations and refunds end).
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,
    /// Returning students: each checkout is by a student who registered before the run
    /// (not measured) and is signed in, so the run measures the checkout without the
    /// one-time sign-up, whose argon2id hash (~30 ms of CPU) dominates a new student's.
    #[arg(long)]
    pub signed_in: bool,
    /// Send a request that failed retryably (a broken connection, 502/503/504 from a
    /// balancer, an answer marked `retryable`) again, up to this many times; POSTs then
    /// carry an `Idempotency-Key` (one per checkout step), so a retry never repeats an
    /// effect. For chaos behind a balancer (`bench/topology chaos`).
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// Each simulated student sends its own address (10.x.y.z) in `X-Forwarded-For`,
    /// so a balancer listed in `ratelimit.trusted_proxies` makes the per-address limits
    /// apply per student, as in production.
    #[arg(long)]
    pub forwarded_for: bool,
    /// Run id used in user emails (`lt-{id}-{n}@loadtest.example`); random by default.
    #[arg(long)]
    pub run_id: Option<String>,
    #[command(subcommand)]
    pub command: Option<LoadtestCommand>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum LoadtestCommand {
    /// The job runtime alone: no-op throughput, commit -> start latency, 3-step chains,
    /// on `bench` jobs run by `checkout worker` processes it starts (bench/peers/README.md).
    Jobs(jobs::JobsArgs),
}

/// `checkout loadtest`: runs, prints, and fails on consistency violations.
/// `database_url`: the system's database, for the counters and the consistency check.
pub async fn run(database_url: Option<String>, args: LoadtestArgs) -> anyhow::Result<()> {
    if let Some(LoadtestCommand::Jobs(jobs)) = args.command {
        return jobs::run(database_url, jobs).await;
    }
    let report = execute(&args, database_url.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report::render(&report));
    }
    if let Some(check) = &report.check
        && !check.ok
    {
        bail!("{} consistency violation(s)", check.violations.len());
    }
    Ok(())
}

/// Only loopback targets: this tool must never load someone else's system.
fn check_loopback(base: &str) -> anyhow::Result<(String, String)> {
    check_loopback_as("--base-url", base)
}

fn check_loopback_as(option: &str, base: &str) -> anyhow::Result<(String, String)> {
    let rest = base
        .strip_prefix("http://")
        .with_context(|| format!("{option} must be http://127.0.0.1:PORT (loopback only)"))?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        bail!("{option} must be a loopback address (127.0.0.1, localhost, [::1]), not {host}");
    }
    let addr = if host_port.contains(':') && !host_port.ends_with(']') {
        host_port.replace("localhost", "127.0.0.1")
    } else {
        format!("{}:80", host_port.replace("localhost", "127.0.0.1"))
    };
    Ok((addr, host_port.to_owned()))
}

/// Runs the load as `args` say and returns the report (used by the CLI and the tests).
pub async fn execute(args: &LoadtestArgs, database_url: Option<&str>) -> anyhow::Result<Report> {
    let (addr, host) = check_loopback(&args.base_url)?;
    let rate_ok = args.rate > 0.0 && args.rate <= 10_000.0;
    let duration_ok = args.duration > 0.0 && args.duration <= 600.0;
    if !rate_ok || !duration_ok {
        bail!("--rate must be in (0, 10000] and --duration in (0, 600]");
    }
    let base = args.base_url.trim_end_matches('/').to_owned();
    let sandbox = sandbox_base(args)?;
    let pool = match database_url {
        Some(url) => Some(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(crate::store::connect_options(url)?)
                .await
                .context("cannot connect to the database")?,
        ),
        None => None,
    };
    if let (Some(pool), false) = (&pool, args.no_setup) {
        crate::admin::catalog::import(pool, CATALOG).await?;
    }
    if let Some(n) = args.connections {
        let report = connections::run(connections::ConnectionsPlan {
            addr,
            host,
            connections: n,
            ramp: Duration::from_secs_f64(args.ramp.clamp(0.0, 600.0)),
            hold: Duration::from_secs_f64(args.duration),
            think: Duration::from_millis(args.think_ms.max(1)),
            path: "/api/v1/internships".into(),
        })
        .await;
        return Ok(Report::connections(args, report));
    }
    checkouts(args, &base, &sandbox, database_url, pool).await
}

/// Where the sandbox's routes live (`{origin}/sandbox`): under `--sandbox-url`, else
/// under `--base-url`. A URL already ending in `/sandbox` is taken as it is.
fn sandbox_base(args: &LoadtestArgs) -> anyhow::Result<String> {
    let origin = match &args.sandbox_url {
        Some(url) => {
            check_loopback_as("--sandbox-url", url)?;
            url.as_str()
        }
        None => args.base_url.as_str(),
    };
    let origin = origin.trim_end_matches('/');
    let origin = origin.strip_suffix("/sandbox").unwrap_or(origin);
    Ok(format!("{origin}/sandbox"))
}

async fn checkouts(
    args: &LoadtestArgs,
    base: &str,
    sandbox: &str,
    database_url: Option<&str>,
    pool: Option<PgPool>,
) -> anyhow::Result<Report> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()?;
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..10].to_owned());
    let mut faults = Vec::new();
    for spec in &args.faults {
        let (gateway, value) = chaos::parse_fault(spec)?;
        chaos::put_faults(&client, sandbox, &gateway, &value).await?;
        faults.push((gateway, value));
    }
    let workers = match (args.workers, database_url) {
        (0, _) => None,
        (n, Some(url)) => Some(Arc::new(Mutex::new(Workers::start(n, url, sandbox)?))),
        (_, None) => bail!("--workers needs the database (--database-url or DATABASE_URL)"),
    };
    if workers.is_some() {
        // let the children connect and start polling before load arrives
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let recorder = Arc::new(Recorder::default());
    let mut flow = flow::Flow {
        client,
        base: base.to_owned(),
        sandbox: sandbox.to_owned(),
        run_id: run_id.clone(),
        recorder: recorder.clone(),
        timeout: Duration::from_secs(args.checkout_timeout.max(1)),
        order_wait: Duration::from_millis(args.order_wait_ms.clamp(1, 10_000)),
        students: Vec::new(),
        retries: args.retries.min(100),
        forwarded_for: args.forwarded_for,
    };
    let total = (args.rate * args.duration).round().max(1.0) as u64;
    if args.signed_in {
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        flow.students = flow.sign_up(total, parallel).await?;
    }
    let flow = Arc::new(flow);
    let worker_pids = workers
        .as_ref()
        .and_then(|w| w.lock().ok().map(|w| w.pids()))
        .unwrap_or_default();
    let cpu_before = chaos::CpuReading::take(&args.pids, &worker_pids);
    let counters_before = match &pool {
        Some(p) => Some(dbstats::DbCounters::read(p).await?),
        None => None,
    };

    let stop = CancellationToken::new();
    let killer = match (&workers, args.kill_worker_every) {
        (Some(w), Some(every)) if every > 0.0 => Some(tokio::spawn(chaos::kill_loop(
            w.clone(),
            Duration::from_secs_f64(every),
            stop.clone(),
        ))),
        (None, Some(_)) => bail!("--kill-worker-every needs --workers N"),
        _ => None,
    };
    let restarter = args.restart_postgres_at.map(|at| {
        tokio::spawn(chaos::restart_postgres(
            args.postgres_restart_cmd.clone(),
            Duration::from_secs_f64(at.max(0.0)),
            stop.clone(),
        ))
    });

    let in_flight = Arc::new(InFlight::default());
    let last_enrolled = Arc::new(Mutex::new(None::<Instant>));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut late_max = Duration::ZERO;
    for n in 0..total {
        let intended = start + Duration::from_secs_f64(n as f64 / args.rate);
        tokio::time::sleep_until(intended.into()).await;
        late_max = late_max.max(intended.elapsed());
        let (flow, in_flight, last) = (flow.clone(), in_flight.clone(), last_enrolled.clone());
        tasks.spawn(async move {
            in_flight.enter();
            let status = flow.checkout(n, intended).await;
            in_flight.leave();
            if status == "enrolled"
                && let Ok(mut l) = last.lock()
            {
                *l = Some(Instant::now());
            }
        });
    }
    let offered = start.elapsed();
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    stop.cancel();
    if let Some(k) = killer {
        let _ = k.await;
    }
    let pg_restart = match restarter {
        Some(r) => r.await.ok().flatten(),
        None => None,
    };
    let worker_kills = workers
        .as_ref()
        .and_then(|w| w.lock().ok().map(|w| w.kills))
        .unwrap_or(0);
    let worker_pids_end = workers
        .as_ref()
        .and_then(|w| w.lock().ok().map(|w| w.pids()))
        .unwrap_or_default();
    let cpu_after = chaos::CpuReading::take(&args.pids, &worker_pids_end);
    for (gateway, _) in &faults {
        let _ = chaos::put_faults(&flow.client, sandbox, gateway, &serde_json::json!({})).await;
    }

    let snapshot = recorder.snapshot();
    let enrolled = snapshot.terminal.get("enrolled").copied().unwrap_or(0);
    let enrolled_window = last_enrolled
        .lock()
        .ok()
        .and_then(|l| *l)
        .map_or(elapsed, |t| t - start)
        .max(offered);
    let mut report = Report::checkouts(args, &run_id, total, snapshot);
    report.offered_s = round2(offered.as_secs_f64());
    report.elapsed_s = round2(elapsed.as_secs_f64());
    report.generator_late_max_ms = round2(late_max.as_secs_f64() * 1000.0);
    report.in_flight_peak = in_flight.peak.load(std::sync::atomic::Ordering::Relaxed);
    report.achieved_checkouts_per_s =
        round2(enrolled as f64 / enrolled_window.as_secs_f64().max(0.001));
    report.chaos = Chaos {
        workers: args.workers,
        worker_kills,
        postgres_restart: pg_restart,
        faults: faults
            .into_iter()
            .map(|(g, v)| format!("{g}={v}"))
            .collect(),
    };
    // per checkout, to 0.1 ms: a checkout costs a few ms of CPU in each process
    let per = |v: f64| {
        if enrolled > 0 {
            round4(v / enrolled as f64)
        } else {
            0.0
        }
    };
    // CPU of killed workers is lost with them: the worker figure is a lower bound then
    let checkout_cpu =
        (cpu_after.server - cpu_before.server) + (cpu_after.workers - cpu_before.workers).max(0.0);
    let postgres_cpu = chaos::cpu_since(&cpu_before.postgres, &cpu_after.postgres);
    let generator_cpu = cpu_after.generator - cpu_before.generator;
    let machine_cpu = match (cpu_before.machine, cpu_after.machine) {
        (Some(b), Some(a)) => a - b,
        _ => 0.0,
    };
    report.cpu = Some(Cpu {
        server_pids: args.pids.clone(),
        checkout_processes_s: round2(checkout_cpu),
        postgres_all_s: round2(postgres_cpu),
        checkout_processes_per_checkout_s: per(checkout_cpu),
        postgres_per_checkout_s: per(postgres_cpu),
        generator_s: round2(generator_cpu),
        generator_per_checkout_s: per(generator_cpu),
        machine_busy_s: round2(machine_cpu),
        machine_per_checkout_s: per(machine_cpu),
    });

    tokio::time::sleep(Duration::from_secs_f64(args.settle.clamp(0.0, 120.0))).await;
    if let Some(pool) = &pool {
        if let Some(before) = &counters_before {
            // Postgres 15 flushes a backend's counters when idle, within ~1-10 s
            let after = dbstats::DbCounters::read(pool).await?;
            let delta = after.delta(before);
            report.per_checkout = Some(PerCheckout::from(&delta, enrolled));
            report.db_counters = Some(delta);
        }
        report.database = Some(dbstats::latencies(pool, &run_id).await?);
        if args.check {
            let mut conn = pool.acquire().await?;
            let limits = crate::admin::check::Limits {
                grace_secs: 60,
                refund_alert_secs: crate::config::RefundSettings::default().pending_alert_secs,
            };
            report.check = Some(crate::admin::check::check(&mut conn, limits).await?);
        }
    }
    drop(workers);
    Ok(report)
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn loopback_only() {
        assert_eq!(
            check_loopback("http://127.0.0.1:8080").unwrap().0,
            "127.0.0.1:8080"
        );
        assert_eq!(
            check_loopback("http://localhost:9/").unwrap().0,
            "127.0.0.1:9"
        );
        assert!(check_loopback("http://10.0.0.1:8080").is_err());
        assert!(check_loopback("https://127.0.0.1").is_err());
        assert!(check_loopback("http://example.com").is_err());
    }

    #[test]
    fn sandbox_under_its_own_url_or_the_api() {
        let args = |extra: &[&str]| {
            let mut argv = vec!["loadtest", "--base-url", "http://127.0.0.1:8080/"];
            argv.extend_from_slice(extra);
            <LoadtestArgs as clap::FromArgMatches>::from_arg_matches(
                &<LoadtestArgs as clap::Args>::augment_args(clap::Command::new("loadtest"))
                    .get_matches_from(argv),
            )
            .unwrap()
        };
        assert_eq!(
            sandbox_base(&args(&[])).unwrap(),
            "http://127.0.0.1:8080/sandbox"
        );
        for url in ["http://127.0.0.1:8090", "http://127.0.0.1:8090/sandbox/"] {
            assert_eq!(
                sandbox_base(&args(&["--sandbox-url", url])).unwrap(),
                "http://127.0.0.1:8090/sandbox"
            );
        }
        assert!(sandbox_base(&args(&["--sandbox-url", "http://10.0.0.1:8090"])).is_err());
    }

    #[test]
    fn catalog_parses() {
        let v: serde_json::Value = serde_json::from_str(CATALOG).unwrap();
        assert_eq!(v["programs"][0]["slug"], flow::PROGRAM);
        assert_eq!(v["coupons"][0]["code"], flow::COUPON);
    }
}
