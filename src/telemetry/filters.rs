//! The per-layer filters: `log.level` (or `RUST_LOG`) decides what is logged, and the
//! exporter gets every span of ours (target `checkout`, `info` and above) whatever the
//! log level.
//!
//! tracing-subscriber (0.3.23) hands each per-layer filter's decision from `enabled` to
//! `on_new_span`/`on_event` through a thread-local, and a callsite whose interest is
//! cached as `always` skips `enabled`, so it reads whatever the last `enabled` call on
//! the thread left there. `log::log_enabled!` (sqlx's query logger, once the log level
//! lets `debug` records through the `log` bridge) asks `enabled` and records nothing,
//! so a target every layer declines leaves "disabled" behind: the next `always` span is
//! then dropped by every layer, with its whole subtree (tokio-rs/tracing#2519).
//! [`Fresh`] keeps every callsite at `sometimes` so each span and event is judged by
//! its own `enabled`.

use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, span};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Filter};

/// What the exporter gets: every span (and event in one) of ours at `info` and above.
pub(super) fn exported() -> Fresh<Targets> {
    Fresh(Targets::new().with_target("checkout", Level::INFO))
}

/// `F` with interest capped at `sometimes`, so its `enabled` runs before every span and
/// event it may want (module docs); otherwise `F` itself.
pub(super) struct Fresh<F>(pub(super) F);

impl<S, F: Filter<S>> Filter<S> for Fresh<F> {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.0.enabled(meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.0.callsite_enabled(meta);
        if interest.is_always() {
            Interest::sometimes()
        } else {
            interest
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        self.0.event_enabled(event, cx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.0.max_level_hint()
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, cx)
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        self.0.on_record(id, values, cx)
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_enter(id, cx)
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        self.0.on_exit(id, cx)
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        self.0.on_close(id, cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::Subscriber;
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::{EnvFilter, registry::LookupSpan};

    use super::*;

    /// The names of the spans a layer was given.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<&'static str>>>);

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
        fn on_new_span(&self, attrs: &span::Attributes<'_>, _: &span::Id, _: Context<'_, S>) {
            self.0.lock().unwrap().push(attrs.metadata().name());
        }
    }

    #[test]
    fn a_span_reaches_both_layers_after_a_record_neither_wanted() {
        let (logged, exported_spans) = (Seen::default(), Seen::default());
        let subscriber = tracing_subscriber::registry()
            .with(
                logged
                    .clone()
                    .with_filter(Fresh(EnvFilter::new("warn,checkout=info"))),
            )
            .with(exported_spans.clone().with_filter(exported()));
        tracing::subscriber::with_default(subscriber, || {
            let declined = tracing::debug_span!(target: "sqlx::query", "query");
            let meta = declined.metadata().unwrap();
            for _ in 0..2 {
                // `log::log_enabled!` through the `log` bridge (sqlx's query logger):
                // asks, then records nothing
                tracing::dispatcher::get_default(|d| d.enabled(meta));
                tracing::info_span!("job").in_scope(|| {});
            }
        });
        assert_eq!(*logged.0.lock().unwrap(), ["job", "job"]);
        assert_eq!(*exported_spans.0.lock().unwrap(), ["job", "job"]);
    }
}
