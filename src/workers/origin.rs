//! Where a job comes from, carried in its apalis metadata (`apalis.jobs.metadata`)
//! beside the payload: the trace and the correlation id of the work that enqueued it.
//! A run of the job, first or retried after its worker died, continues both.

use apalis_core::task::metadata::MetadataStore;

use crate::telemetry::{self, traces};

/// Metadata key of the enqueuer's W3C `traceparent`.
pub const TRACEPARENT: &str = traces::TRACEPARENT;
/// Metadata key of the enqueuer's correlation id.
pub const CORRELATION_ID: &str = "correlation_id";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub traceparent: Option<String>,
    pub correlation_id: Option<String>,
}

impl Origin {
    /// The current span's trace and the current correlation id, if any.
    pub fn current() -> Self {
        Origin {
            traceparent: traces::current_traceparent(),
            correlation_id: telemetry::current_correlation_id(),
        }
    }

    pub fn to_metadata(&self) -> MetadataStore {
        let mut metadata = MetadataStore::new();
        let pairs = [
            (TRACEPARENT, &self.traceparent),
            (CORRELATION_ID, &self.correlation_id),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                // a fresh store holds no key twice
                let _ = metadata.insert(key, value.as_str());
            }
        }
        metadata
    }

    pub fn from_metadata(metadata: &MetadataStore) -> Self {
        let read = |key: &str| metadata.get(key).map(str::to_owned);
        Origin {
            traceparent: read(TRACEPARENT),
            correlation_id: read(CORRELATION_ID),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[tokio::test]
    async fn a_job_continues_the_trace_and_correlation_id_that_enqueued_it() {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _guard = tracing::subscriber::set_default(subscriber);

        let enqueuer = tracing::info_span!("request");
        let origin = telemetry::with_correlation_id("corr-1".into(), async {
            enqueuer.in_scope(Origin::current)
        })
        .await;
        let expected = traces::traceparent_of(&enqueuer).unwrap();
        assert_eq!(origin.traceparent.as_deref(), Some(expected.as_str()));
        assert_eq!(origin.correlation_id.as_deref(), Some("corr-1"));

        // through the form apalis stores (hstore pairs) and back
        let stored: std::collections::HashMap<String, String> = origin.to_metadata().into_inner();
        let read = Origin::from_metadata(&MetadataStore::from_map(stored));
        assert_eq!(read, origin);

        let run = tracing::info_span!("job");
        traces::set_parent(&run, read.traceparent.as_deref());
        let child = traces::traceparent_of(&run).unwrap();
        // same trace id (second field), a span of its own
        assert_eq!(child.split('-').nth(1), expected.split('-').nth(1));
        assert_ne!(child, expected);
    }

    #[test]
    fn nothing_is_stored_outside_a_trace_or_request() {
        let origin = Origin::current();
        assert_eq!(origin, Origin::default());
        assert_eq!(origin.to_metadata().iter().count(), 0);
    }
}
