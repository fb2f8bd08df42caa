//! Latency recording: one HDR histogram per endpoint (microseconds), error counts by
//! code and terminal statuses, shared by every checkout task.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency recorded exactly (larger values are clamped): 10 minutes in µs.
const MAX_MICROS: u64 = 600_000_000;

/// 3 significant digits: 0.1 % error. Fails only for invalid bounds (constants here).
fn histogram() -> Option<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).ok()
}

/// Everything the tasks record. A mutex is enough: a few thousand records per second.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    latency: BTreeMap<String, Histogram<u64>>,
    errors: BTreeMap<String, u64>,
    retried: BTreeMap<String, u64>,
    terminal: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn latency(&self, name: &str, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros())
            .unwrap_or(MAX_MICROS)
            .clamp(1, MAX_MICROS);
        if let Ok(mut inner) = self.inner.lock() {
            if !inner.latency.contains_key(name)
                && let Some(h) = histogram()
            {
                inner.latency.insert(name.to_owned(), h);
            }
            if let Some(h) = inner.latency.get_mut(name) {
                let _ = h.record(micros);
            }
        }
    }

    /// `endpoint:code`, e.g. `order:7001` or `cart:transport`.
    pub fn error(&self, key: String) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.errors.entry(key).or_insert(0) += 1;
        }
    }

    /// A request answered `endpoint:code` and was sent again (`--retries`).
    pub fn retried(&self, key: String) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.retried.entry(key).or_insert(0) += 1;
        }
    }

    pub fn terminal(&self, status: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.terminal.entry(status.to_owned()).or_insert(0) += 1;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let Ok(inner) = self.inner.lock() else {
            return Snapshot::default();
        };
        Snapshot {
            latency: inner.latency.iter().map(|(k, h)| summarize(k, h)).collect(),
            errors: inner.errors.clone(),
            retried: inner.retried.clone(),
            terminal: inner.terminal.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub latency: Vec<Percentiles>,
    pub errors: BTreeMap<String, u64>,
    pub retried: BTreeMap<String, u64>,
    pub terminal: BTreeMap<String, u64>,
}

/// Milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub name: String,
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub fn summarize(name: &str, h: &Histogram<u64>) -> Percentiles {
    let ms = |v: u64| (v as f64 / 1000.0 * 100.0).round() / 100.0;
    Percentiles {
        name: name.to_owned(),
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p95_ms: ms(h.value_at_quantile(0.95)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        max_ms: ms(h.max()),
    }
}

/// Percentiles of a list of millisecond values (database-derived latencies).
pub fn from_millis(name: &str, values: impl IntoIterator<Item = f64>) -> Percentiles {
    let Some(mut h) = histogram() else {
        return Percentiles {
            name: name.to_owned(),
            count: 0,
            p50_ms: 0.0,
            p95_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
        };
    };
    for v in values {
        let micros = (v.max(0.0) * 1000.0) as u64;
        let _ = h.record(micros.clamp(1, MAX_MICROS));
    }
    summarize(name, &h)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn percentiles_in_milliseconds() {
        let r = Recorder::default();
        for ms in 1..=100 {
            r.latency("cart", Duration::from_millis(ms));
        }
        let s = r.snapshot();
        let p = &s.latency[0];
        assert_eq!(p.count, 100);
        assert!((p.p50_ms - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p99_ms - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max_ms - 100.0).abs() < 0.1, "{p:?}");
    }

    #[test]
    fn millis_list() {
        let p = from_millis("x", [10.0, 20.0, 30.0]);
        assert_eq!(p.count, 3);
        assert!((p.p50_ms - 20.0).abs() < 0.1, "{p:?}");
    }
}
