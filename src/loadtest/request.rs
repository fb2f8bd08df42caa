//! One request of a checkout, as a careful client sends it: behind a balancer
//! (`--forwarded-for`: the student's own address in `X-Forwarded-For`, which a trusted
//! proxy would have added) and with `--retries`: an answer the API marks `retryable`,
//! a 502/503/504 from the balancer or a broken connection is sent again, POSTs with the
//! same `Idempotency-Key`, so an API process killed mid-request costs a retry, never a
//! second cart or order.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::flow::{CallError, Flow};

/// Who sends a request and under which name it is recorded; latency runs from `start`.
pub struct Step<'a> {
    /// The checkout (and its student).
    pub n: u64,
    pub name: &'a str,
    pub start: Instant,
}

impl<'a> Step<'a> {
    pub fn at(n: u64, name: &'a str, start: Instant) -> Self {
        Step { n, name, start }
    }
}

/// Student `n`'s address: `10.0.0.0/8` in order, distinct for the first 2^24 students.
pub fn student_addr(n: u64) -> Ipv4Addr {
    let low = (n & 0x00ff_ffff) as u32;
    Ipv4Addr::from(0x0a00_0000 | low)
}

/// The wait before retry `attempt` (1, 2, ...): 200 ms doubling, at most 1.6 s (an
/// in-flight claim left by a killed process waits out `idempotency.lock_timeout_secs`).
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((200u64 << attempt.min(4).saturating_sub(1)).min(2_000))
}

/// A failure worth sending again: the connection broke or timed out, the balancer had
/// no answer (502/503/504), or the API said `retryable` (in flight elsewhere, busy).
struct Failure {
    code: String,
    retryable: bool,
    /// The answer's `Retry-After` (a rate limit's wait is longer than the backoff).
    retry_after: Option<Duration>,
}

impl Flow {
    /// One request; latency from `step.start`; a non-2xx answer or transport error
    /// (after the retries) is counted as `name:code` and ends the checkout.
    pub(super) async fn call(
        &self,
        step: Step<'_>,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, ()> {
        match self.send(&step, method, path, bearer, body).await {
            Ok(v) => {
                self.recorder.latency(step.name, step.start.elapsed());
                Ok(v)
            }
            Err(CallError(code)) => {
                self.recorder.error(format!("{}:{code}", step.name));
                Err(())
            }
        }
    }

    /// [`Flow::call`] without recording success; retries as `--retries` says.
    pub(super) async fn send(
        &self,
        step: &Step<'_>,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, CallError> {
        // one key per checkout step, the same on every retry of it
        let key = (self.retries > 0 && method == Method::POST)
            .then(|| format!("lt-{}-{}-{}", self.run_id, step.n, step.name));
        let mut attempt = 0;
        loop {
            let once = self.send_once(
                step,
                method.clone(),
                path,
                bearer,
                body.as_ref(),
                key.as_deref(),
            );
            match once.await {
                Ok(v) => return Ok(v),
                Err(f) if f.retryable && attempt < self.retries => {
                    attempt += 1;
                    self.recorder.retried(format!("{}:{}", step.name, f.code));
                    let wait = backoff(attempt).max(f.retry_after.unwrap_or_default());
                    tokio::time::sleep(wait.min(Duration::from_secs(10))).await;
                }
                Err(f) => return Err(CallError(f.code)),
            }
        }
    }

    async fn send_once(
        &self,
        step: &Step<'_>,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<Value, Failure> {
        // A path is the API's; the sandbox's pay call comes as a full URL, since the
        // sandbox may run apart from the API.
        let api = path.starts_with('/');
        let url = if api {
            format!("{}{path}", self.base)
        } else {
            path.to_owned()
        };
        let mut request = self.client.request(method, url);
        if let Some(b) = bearer {
            request = request.bearer_auth(b);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        if api && self.forwarded_for {
            request = request.header("x-forwarded-for", student_addr(step.n).to_string());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| Failure {
            code: transport(&e),
            retryable: true,
            retry_after: None,
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let error = value.pointer("/error");
        let code = error
            .and_then(|e| e.get("code"))
            .and_then(Value::as_u64)
            .map(|c| c.to_string())
            .unwrap_or_else(|| format!("http{}", status.as_u16()));
        let retryable = match error.and_then(|e| e.get("retryable")) {
            Some(r) => r.as_bool() == Some(true),
            // no envelope: the balancer's own answer when no process could
            None => matches!(status.as_u16(), 502..=504),
        };
        Err(Failure {
            code,
            retryable,
            retry_after,
        })
    }
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn students_have_distinct_private_addresses() {
        assert_eq!(student_addr(0), Ipv4Addr::new(10, 0, 0, 0));
        assert_eq!(student_addr(258), Ipv4Addr::new(10, 0, 1, 2));
        assert_ne!(student_addr(1), student_addr(2));
    }

    #[test]
    fn backoff_grows_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(9), Duration::from_millis(1_600));
    }
}
