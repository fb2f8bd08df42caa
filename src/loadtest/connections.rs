//! `--connections N`: N concurrent keep-alive HTTP/1.1 connections, each a simulated
//! user reading the catalog (`GET /api/v1/internships`) every `--think-ms`. One raw
//! hyper connection per user (no shared pool), so N really is the number of open
//! sockets the server holds. Needs `ulimit -n` above N on both sides.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

use super::stats::{Percentiles, Recorder};

pub struct ConnectionsPlan {
    pub addr: String,
    pub host: String,
    pub connections: usize,
    /// Connections are opened evenly over this time.
    pub ramp: Duration,
    /// Hold time after the ramp.
    pub hold: Duration,
    pub think: Duration,
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionsReport {
    pub target_connections: usize,
    /// Highest number open at once (all opened and none closed yet).
    pub peak_open: u64,
    /// Open when the hold ended.
    pub open_at_end: u64,
    pub connect_errors: u64,
    pub requests_ok: u64,
    pub request_errors: u64,
    pub requests_per_s: f64,
    pub latency: Vec<Percentiles>,
}

#[derive(Default)]
struct Counters {
    open: AtomicU64,
    peak: AtomicU64,
    connect_errors: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
}

pub async fn run(plan: ConnectionsPlan) -> ConnectionsReport {
    let counters = Arc::new(Counters::default());
    let recorder = Arc::new(Recorder::default());
    let start = Instant::now();
    let end = start + plan.ramp + plan.hold;
    let plan = Arc::new(plan);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..plan.connections {
        let offset = plan.ramp.mul_f64(i as f64 / plan.connections.max(1) as f64);
        let (plan, counters, recorder) = (plan.clone(), counters.clone(), recorder.clone());
        tasks.spawn(async move {
            tokio::time::sleep_until((start + offset).into()).await;
            user(&plan, &counters, &recorder, end).await;
        });
    }
    let mut open_at_end = 0;
    let sampler = {
        let counters = counters.clone();
        async move {
            tokio::time::sleep_until((end - Duration::from_millis(200)).into()).await;
            counters.open.load(Ordering::Relaxed)
        }
    };
    let (sampled, ()) = tokio::join!(sampler, async {
        while tasks.join_next().await.is_some() {}
    });
    open_at_end += sampled;
    let elapsed = start.elapsed().as_secs_f64().max(0.001);
    let ok = counters.ok.load(Ordering::Relaxed);
    ConnectionsReport {
        target_connections: plan.connections,
        peak_open: counters.peak.load(Ordering::Relaxed),
        open_at_end,
        connect_errors: counters.connect_errors.load(Ordering::Relaxed),
        requests_ok: ok,
        request_errors: counters.errors.load(Ordering::Relaxed),
        requests_per_s: (ok as f64 / elapsed * 10.0).round() / 10.0,
        latency: recorder.snapshot().latency,
    }
}

/// One user: connect, then request / think until `end`; the connection stays open
/// between requests (keep-alive). Latency is measured from the intended send time.
async fn user(plan: &ConnectionsPlan, counters: &Counters, recorder: &Recorder, end: Instant) {
    let stream =
        match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&plan.addr)).await {
            Ok(Ok(s)) => s,
            _ => {
                counters.connect_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
    let Ok((mut sender, conn)) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await
    else {
        counters.connect_errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let driver = tokio::spawn(conn);
    let now_open = counters.open.fetch_add(1, Ordering::Relaxed) + 1;
    counters.peak.fetch_max(now_open, Ordering::Relaxed);
    // spread the first request over one think time so users do not fire in lockstep
    let jitter = plan.think.mul_f64(rand::random::<f64>());
    let mut next = Instant::now() + jitter;
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        let request = hyper::Request::get(plan.path.as_str())
            .header(hyper::header::HOST, plan.host.as_str())
            .body(Empty::<Bytes>::new());
        let Ok(request) = request else { break };
        if sender.ready().await.is_err() {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
        match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status().is_success();
                let body = response.into_body().collect().await;
                if ok && body.is_ok() {
                    counters.ok.fetch_add(1, Ordering::Relaxed);
                    recorder.latency("GET /api/v1/internships", next.elapsed());
                } else {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        next += plan.think;
    }
    // hold the (idle, keep-alive) connection until the end, as a user with the page open
    if Instant::now() < end && !sender.is_closed() {
        tokio::time::sleep_until(end.into()).await;
    }
    counters.open.fetch_sub(1, Ordering::Relaxed);
    drop(sender);
    driver.abort();
}
