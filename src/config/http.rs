//! `http`: the listener and the limits every request is held to.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address `serve` and `dev` bind to.
    pub host: IpAddr,
    /// Port `serve` and `dev` bind to (`--port` wins); 0 picks a free port.
    pub port: u16,
    /// Where `serve` and `dev` answer `/metrics` (and `/healthz`, `/readyz`), apart from
    /// the public API so internal names, rates and queue depths stay inside. Workers and
    /// schedulers answer the same on `worker.health_port` / `scheduler.health_port`.
    pub metrics_addr: SocketAddr,
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
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9464)),
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
