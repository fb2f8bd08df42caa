//! One shutdown signal for every role: Ctrl-C or SIGTERM cancels the token; each role
//! stops taking work, lets in-flight work finish within `http.shutdown_grace_secs`.

use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT or SIGTERM.
pub fn on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutdown signal received");
        token.cancel();
    });
}

/// A periodic task's clock: ticks every `every` (the first at once; a late tick is
/// delayed, not bunched up) until the shutdown token is cancelled.
pub struct Ticks {
    interval: tokio::time::Interval,
    shutdown: CancellationToken,
}

impl Ticks {
    pub fn new(every: std::time::Duration, shutdown: CancellationToken) -> Self {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticks { interval, shutdown }
    }

    /// Waits for the next tick: false once shut down.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = self.interval.tick() => true,
        }
    }
}
