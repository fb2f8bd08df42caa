//! Chaos for load runs, each part switchable: `checkout worker` children started by the
//! harness (and SIGKILLed / restarted every T seconds), one immediate Postgres restart
//! mid-run, and sandbox faults set through its control API. Everything stops by itself
//! when the run ends; children are killed on drop.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::SandboxSettings;

/// `checkout worker` processes started by the harness, with the caller's environment
/// plus the database and gateway clients of the sandbox at `sandbox` (`{origin}/sandbox`).
pub struct Workers {
    env: Vec<(String, String)>,
    children: Vec<Child>,
    pub kills: u64,
}

impl Workers {
    pub fn start(count: usize, database_url: &str, sandbox_base: &str) -> anyhow::Result<Self> {
        let sandbox = SandboxSettings::default();
        let gw = sandbox_base.trim_end_matches('/');
        let env = vec![
            ("DATABASE_URL".into(), database_url.to_owned()),
            (
                "CHECKOUT__RAZORPAY__KEY_ID".into(),
                sandbox.razorpay_key_id.clone(),
            ),
            (
                "CHECKOUT__RAZORPAY__KEY_SECRET".into(),
                sandbox.razorpay_key_secret.expose_secret().to_owned(),
            ),
            (
                "CHECKOUT__RAZORPAY__WEBHOOK_SECRET".into(),
                sandbox.razorpay_webhook_secret.expose_secret().to_owned(),
            ),
            (
                "CHECKOUT__RAZORPAY__BASE_URL".into(),
                format!("{gw}/razorpay"),
            ),
            (
                "CHECKOUT__RAZORPAY__CHECKOUT_URL_TEMPLATE".into(),
                format!("{gw}/pay/{{order_id}}"),
            ),
            (
                "CHECKOUT__STRIPE__SECRET_KEY".into(),
                sandbox.stripe_secret_key.expose_secret().to_owned(),
            ),
            (
                "CHECKOUT__STRIPE__WEBHOOK_SECRET".into(),
                sandbox.stripe_webhook_secret.expose_secret().to_owned(),
            ),
            ("CHECKOUT__STRIPE__BASE_URL".into(), format!("{gw}/stripe")),
        ];
        let mut workers = Workers {
            env,
            children: Vec::new(),
            kills: 0,
        };
        for _ in 0..count {
            let child = workers.spawn()?;
            workers.children.push(child);
        }
        Ok(workers)
    }

    fn spawn(&self) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("cannot find the checkout binary")?;
        let mut cmd = Command::new(exe);
        cmd.arg("worker")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.spawn().context("cannot start `checkout worker`")
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// SIGKILLs child `i % n` (no chance to ack its jobs) and starts a new one.
    pub fn kill_and_restart(&mut self, i: usize) -> anyhow::Result<()> {
        if self.children.is_empty() {
            bail!("no workers to kill");
        }
        let idx = i % self.children.len();
        let child = &mut self.children[idx];
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        self.kills += 1;
        self.children[idx] = self.spawn()?;
        Ok(())
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for child in &mut self.children {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Kills and restarts a worker every `every` until `stop`.
pub async fn kill_loop(
    workers: Arc<std::sync::Mutex<Workers>>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut i = 0;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        if let Ok(mut w) = workers.lock()
            && let Err(e) = w.kill_and_restart(i)
        {
            tracing::warn!(error = %e, "worker restart failed");
        }
        i += 1;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PgRestart {
    pub at_s: f64,
    pub took_ms: u64,
    pub ok: bool,
    pub output: String,
}

/// Runs the restart command (`sh -c`) once after `at`, unless stopped first.
pub async fn restart_postgres(
    command: String,
    at: Duration,
    stop: CancellationToken,
) -> Option<PgRestart> {
    let start = Instant::now();
    tokio::select! {
        () = stop.cancelled() => return None,
        () = tokio::time::sleep(at) => {}
    }
    let began = Instant::now();
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .output()
        .await;
    let (ok, output) = match out {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
            .trim()
            .to_owned(),
        ),
        Err(e) => (false, e.to_string()),
    };
    Some(PgRestart {
        at_s: (began - start).as_secs_f64(),
        took_ms: began.elapsed().as_millis() as u64,
        ok,
        output,
    })
}

/// `gateway=JSON` (the sandbox's `Faults` object), e.g.
/// `razorpay={"error_rate":0.1,"webhook_duplicate":true}`.
pub fn parse_fault(spec: &str) -> anyhow::Result<(String, serde_json::Value)> {
    let (gateway, json) = spec.split_once('=').context("--fault wants GATEWAY=JSON")?;
    let value: serde_json::Value =
        serde_json::from_str(json).context("--fault: the part after = is not JSON")?;
    if !value.is_object() {
        bail!("--fault: JSON object expected");
    }
    Ok((gateway.trim().to_owned(), value))
}

/// Sets (or, with `{}`, clears) one gateway's faults on the sandbox whose routes are
/// at `sandbox` (`{origin}/sandbox`).
pub async fn put_faults(
    client: &reqwest::Client,
    sandbox: &str,
    gateway: &str,
    faults: &serde_json::Value,
) -> anyhow::Result<()> {
    let url = format!("{}/control/faults/{gateway}", sandbox.trim_end_matches('/'));
    let response = client.put(&url).json(faults).send().await?;
    if !response.status().is_success() {
        bail!(
            "PUT {url}: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// CPU seconds (user + system) of processes, read from /proc/PID/stat.
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    cpu_by_pid(pids).values().sum()
}

/// CPU seconds of each of `pids` that is alive.
pub fn cpu_by_pid(pids: &[u32]) -> HashMap<u32, f64> {
    let tick = clock_ticks();
    pids.iter()
        .filter_map(|&pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // fields after the ")" of the command name: state is field 3; utime 14, stime 15
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((pid, (utime + stime) / tick))
        })
        .collect()
}

/// CPU used by the processes alive now since `before` (from [`cpu_by_pid`]): a process
/// started since counts whole, one that ended since is lost (a lower bound). Postgres
/// starts a backend per new connection, and pools open connections under load: with a
/// list of pids taken before the run, their work went uncounted.
pub fn cpu_since(before: &HashMap<u32, f64>, now: &HashMap<u32, f64>) -> f64 {
    now.iter()
        .map(|(pid, s)| (s - before.get(pid).copied().unwrap_or(0.0)).max(0.0))
        .sum()
}

/// Busy CPU seconds of the whole machine since boot (all cores: user, nice, system,
/// irq, softirq; not idle, I/O wait or time stolen by a hypervisor), from `/proc/stat`.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<f64> = cpu
        .split_whitespace()
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)?;
    Some(busy / clock_ticks())
}

/// The CPU counters a run's report is the difference of.
pub struct CpuReading {
    /// The `--pid` processes.
    pub server: f64,
    /// The harness's worker processes.
    pub workers: f64,
    /// Every postgres process, by pid (see [`cpu_since`]).
    pub postgres: HashMap<u32, f64>,
    /// This process, the load generator.
    pub generator: f64,
    /// The whole machine ([`machine_busy_seconds`]).
    pub machine: Option<f64>,
}

impl CpuReading {
    pub fn take(server: &[u32], workers: &[u32]) -> Self {
        CpuReading {
            server: cpu_seconds(server),
            workers: cpu_seconds(workers),
            postgres: cpu_by_pid(&postgres_pids()),
            generator: cpu_seconds(&[std::process::id()]),
            machine: machine_busy_seconds(),
        }
    }
}

/// Every running `postgres` process (server-wide: on a shared server this includes
/// other databases' work).
pub fn postgres_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .collect()
}

/// `CLK_TCK`, asked of `getconf` once per process.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// A counter of checkouts in flight (for the report's peak).
#[derive(Default)]
pub struct InFlight {
    pub now: AtomicU64,
    pub peak: AtomicU64,
}

impl InFlight {
    pub fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(n, Ordering::Relaxed);
    }
    pub fn leave(&self) {
        self.now.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn fault_spec() {
        let (g, v) = parse_fault(r#"razorpay={"error_rate":0.1}"#).unwrap();
        assert_eq!(g, "razorpay");
        assert_eq!(v["error_rate"], 0.1);
        assert!(parse_fault("razorpay").is_err());
        assert!(parse_fault("razorpay=[1]").is_err());
    }

    #[test]
    fn own_cpu_is_readable() {
        // burn a little CPU so the counter is above zero
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(cpu_seconds(&[std::process::id()]) > 0.0);
        let me = std::process::id();
        let before = cpu_by_pid(&[me]);
        let (a, b) = (machine_busy_seconds().unwrap(), cpu_seconds(&[me]));
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let now = cpu_by_pid(&[me]);
        assert!(cpu_since(&before, &now) > 0.0);
        // a process the first reading did not have counts whole
        assert_eq!(cpu_since(&HashMap::new(), &now), now[&me]);
        // the machine's count includes this process's (both in clock ticks)
        assert!(machine_busy_seconds().unwrap() - a >= cpu_seconds(&[me]) - b - 0.05);
    }
}
