//! One delivery attempt: check the target again, sign, POST the envelope to the
//! checked addresses only, read at most a short prefix of the answer.

use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use uuid::Uuid;

use super::{sign, target};

/// Bytes of an answer kept for operators (`admin subscriptions deliveries`).
pub const RESPONSE_PREFIX_BYTES: usize = 256;
/// Characters of an error kept.
const ERROR_CHARS: usize = 200;

/// What an attempt found: a 2xx is a success, anything else (another status, a refused
/// target, a network error, the timeout) a failure.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The first [`RESPONSE_PREFIX_BYTES`] of the answer's body.
    pub response: Option<String>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// The message of one attempt.
pub struct Message<'a> {
    pub url: &'a str,
    /// `webhook-id`: the event id, the same on every attempt (receivers deduplicate by it).
    pub id: Uuid,
    pub body: &'a [u8],
    pub secrets: &'a [&'a str],
}

/// Sends `message` once, everything (DNS included) within `timeout`.
pub async fn attempt(message: &Message<'_>, timeout: Duration, allow_loopback: bool) -> Outcome {
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, post(message, timeout, allow_loopback)).await;
    let mut outcome = match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => Outcome {
            error: Some(short(&format!("{e:#}"))),
            ..Outcome::default()
        },
        Err(_) => Outcome {
            error: Some(format!("no answer within {} ms", timeout.as_millis())),
            ..Outcome::default()
        },
    };
    outcome.latency_ms = started.elapsed().as_millis() as u64;
    outcome
}

async fn post(
    message: &Message<'_>,
    timeout: Duration,
    allow_loopback: bool,
) -> anyhow::Result<Outcome> {
    let target = target::check(message.url, allow_loopback).await?;
    // No proxy (it would resolve the host itself), no redirect (a 3xx could point
    // anywhere), and the host pinned to the addresses just checked.
    let mut client = reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .timeout(timeout)
        .user_agent("checkout-webhooks/1");
    if let Some(domain) = &target.domain {
        client = client.resolve_to_addrs(domain, &target.addrs);
    }
    let client = client.build()?;
    let id = message.id.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign::header(message.secrets, &id, timestamp, message.body)?;
    let mut response = client
        .post(target.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(message.body.to_vec())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(without_url(e)))?;
    let status = response.status().as_u16();
    let mut prefix = Vec::new();
    while prefix.len() < RESPONSE_PREFIX_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => prefix.extend_from_slice(&chunk),
            // the status decides; a body cut short is still an answer
            Ok(None) | Err(_) => break,
        }
    }
    prefix.truncate(RESPONSE_PREFIX_BYTES);
    Ok(Outcome {
        status_code: Some(status),
        latency_ms: 0,
        error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
        response: (!prefix.is_empty()).then(|| String::from_utf8_lossy(&prefix).into_owned()),
    })
}

/// reqwest's error with its cause chain, without the URL (operators see the URL in the
/// subscription; its query may hold a token).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn short(text: &str) -> String {
    text.chars().take(ERROR_CHARS).collect()
}
