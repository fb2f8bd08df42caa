//! `TestApp`: the API on port 0 against a fresh migrated database, plus helpers to start
//! and kill real worker processes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkout::config::Settings;
use checkout::{api, store};
use secrecy::SecretString;
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// The server tests create their databases on; `TEST_DATABASE_SERVER` overrides.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database of its own for one test, dropped (with its connections) on drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("checkout_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&format!("{}/postgres", server_url()))
            .await
            .expect("Postgres must answer on TEST_DATABASE_SERVER (scripts/test starts it)");
        sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = format!("{}/{name}", server_url());
        TestDb { name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) =
                    PgConnection::connect(&format!("{}/postgres", server_url())).await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "drop database if exists {name} with (force)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// Settings for tests: fast heartbeats and wake-ups, quiet logs.
pub fn test_settings(url: &str) -> Settings {
    let mut s = Settings::default();
    s.database.url = Some(SecretString::from(url.to_owned()));
    s.database.max_connections = 10;
    s.http.port = 0;
    s.http.shutdown_grace_secs = 2;
    s.worker.heartbeat_secs = 1;
    s.worker.missed_heartbeats = 2;
    s.auth.jwt_secret = Some(SecretString::from(TEST_JWT_SECRET.to_owned()));
    s
}

/// The HS256 secret of every test app and of child processes started by [`Proc`].
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

#[allow(dead_code)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub pool: PgPool,
    pub client: reqwest::Client,
    pub settings: Settings,
    shutdown: CancellationToken,
    // last: dropped after the server stopped
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDb::create().await;
        let mut settings = test_settings(&db.url);
        configure(&mut settings);
        let pool = store::pool(&db.url, &settings.database).unwrap();
        store::migrate(&pool).await.unwrap();
        // the process's recorder, which every role installs with its metrics listener
        checkout::telemetry::metrics_handle();
        let state = api::AppState::new(pool.clone(), settings.clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let router = api::router(state).unwrap();
        tokio::spawn(api::serve(
            listener,
            router,
            shutdown.clone(),
            Duration::from_secs(1),
        ));
        TestApp {
            addr,
            pool,
            client: reqwest::Client::new(),
            settings,
            shutdown,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Starts a `checkout worker` process on this app's database.
    pub fn spawn_worker(&self) -> Proc {
        Proc::spawn(&["worker"], &self.db.url, &[])
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A child `checkout` process, killed on drop. Reads stdout until its
/// `listening on http://...` line so the caller knows it is up.
pub struct Proc {
    pub child: Child,
    pub addr: Option<SocketAddr>,
    /// Its stderr (the logs), when started with [`Proc::spawn_logged`].
    pub log: Option<Arc<std::sync::Mutex<String>>>,
}

impl Proc {
    pub fn spawn(args: &[&str], database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start(args, database_url, env, false)
    }

    /// Like `spawn`, capturing stderr into `log` (for asserting what is, and is not,
    /// logged).
    #[allow(dead_code)]
    pub fn spawn_logged(args: &[&str], database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start(args, database_url, env, true)
    }

    /// A process with exactly `env` for settings: none of the defaults above, and none
    /// of this process's `CHECKOUT*` or `DATABASE_URL` variables.
    #[allow(dead_code)]
    pub fn spawn_env(args: &[&str], env: &[(String, String)]) -> Self {
        let mut cmd = exact_command(env);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
        Self::launch(cmd, args)
    }

    fn start(args: &[&str], database_url: &str, env: &[(&str, &str)], capture: bool) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_checkout"));
        cmd.args(args)
            .env("DATABASE_URL", database_url)
            .env("CHECKOUT__WORKER__HEARTBEAT_SECS", "1")
            .env("CHECKOUT__WORKER__MISSED_HEARTBEATS", "2")
            .env("CHECKOUT__WORKER__JOB_TIMEOUT_SECS", "30")
            .env("CHECKOUT__LOG__LEVEL", "warn,checkout=info")
            .env("CHECKOUT__AUTH__JWT_SECRET", TEST_JWT_SECRET)
            // several `serve` processes run at once: each its own metrics port
            .env("CHECKOUT__HTTP__METRICS_ADDR", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if capture {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::launch(cmd, args)
    }

    fn launch(mut cmd: Command, args: &[&str]) -> Self {
        let mut child = cmd.spawn().expect("spawn checkout");
        let log = child.stderr.take().map(|stderr| {
            let log = Arc::new(std::sync::Mutex::new(String::new()));
            let sink = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut buf = sink.lock().unwrap();
                    buf.push_str(&line);
                    buf.push('\n');
                }
            });
            log
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .and_then(|a| a.parse().ok());
        if addr.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("checkout {args:?} did not report ready");
        }
        Proc { child, addr, log }
    }

    /// SIGSTOP: the process keeps its sockets but answers nothing.
    pub fn freeze(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP);
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `checkout` with exactly `env` for settings (see [`Proc::spawn_env`]).
#[allow(dead_code)]
/// Runs `checkout admin ARGS` against `db` as a process (actor `tester`).
pub fn admin(db: &TestDb, args: &[&str]) -> std::process::Output {
    admin_env(db, &[], args)
}

/// `admin`, expected to fail: its stderr.
#[track_caller]
pub fn admin_refused(db: &TestDb, args: &[&str]) -> String {
    let out = admin(db, args);
    assert!(
        !out.status.success(),
        "{args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// `admin` with extra environment, e.g. a `CHECKOUT__...` setting.
///
/// The command waits for its child synchronously. An admin command may need a row lock
/// that a job of the test's own in-process worker holds (an order the documents job is
/// invoicing): on a multi-thread runtime the wait leaves the runtime's other threads
/// to finish that job (`block_in_place`); tests that run admin commands beside an
/// in-process worker use one (`flavor = "multi_thread"`), since on a current-thread
/// runtime the worker would stop until the command ends, which waits for the worker.
pub fn admin_env(db: &TestDb, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_checkout"))
            .arg("admin")
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("CHECKOUT__LOG__LEVEL", "warn")
            .env("USER", "tester")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}

pub fn exact_command(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_checkout"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CHECKOUT") || k == "DATABASE_URL" {
            cmd.env_remove(&*k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// Polls `check` every 20 ms until it returns Some or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Probe routes (test handlers) behind the real `api::with_layers` stack, on port 0.
/// With `with_db` they get a fresh migrated database (idempotency needs one); without,
/// a lazy pool that is never used unless a request needs the database.
#[allow(dead_code)]
pub struct ProbeServer {
    pub base: String,
    pub pool: PgPool,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    // last: dropped after the server stopped
    pub db: Option<TestDb>,
}

#[allow(dead_code)]
impl ProbeServer {
    pub async fn spawn(
        routes: axum::Router,
        with_db: bool,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let db = if with_db {
            Some(TestDb::create().await)
        } else {
            None
        };
        let url = db
            .as_ref()
            .map_or_else(|| format!("{}/postgres", server_url()), |d| d.url.clone());
        let mut settings = test_settings(&url);
        configure(&mut settings);
        let pool = store::pool(&url, &settings.database).unwrap();
        if with_db {
            store::migrate(&pool).await.unwrap();
        }
        let state = api::AppState::new(pool.clone(), settings).unwrap();
        let router = api::with_layers(routes, &state).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(api::serve(
            listener,
            router,
            shutdown.clone(),
            Duration::from_secs(2),
        ));
        ProbeServer {
            base,
            pool,
            client: reqwest::Client::new(),
            shutdown,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for ProbeServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
