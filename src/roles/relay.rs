use secrecy::ExposeSecret;

use crate::cli::{ConsumeArgs, GlobalArgs};
use crate::health::Dependency;

/// `checkout relay`: publishes the outbox to RabbitMQ (`crate::relay`); any number may
/// run. Its health port's `/readyz` also says whether the broker answers.
pub async fn relay(global: GlobalArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&global, Some("relay"))?;
    let pool = super::checked_pool(&settings, super::startup::Schema::Needed).await?;
    let shutdown = super::shutdown_token();
    super::start_metrics(&pool, &settings, &shutdown);
    let broker = Dependency::new("broker");
    let health = super::health_server(
        pool.clone(),
        Some(broker.clone()),
        std::net::SocketAddr::new(settings.http.host, settings.events.health_port),
        "relay health",
        shutdown.clone(),
    )
    .await?;
    crate::relay::run(pool, settings.events.clone(), broker, shutdown).await;
    health.abort();
    Ok(())
}

/// `checkout consume`: the example consumer (`crate::relay::consume`) on the configured
/// broker and database.
pub async fn consume(global: GlobalArgs, args: ConsumeArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&global, None)?;
    let pool = super::checked_pool(&settings, super::startup::Schema::Needed).await?;
    let options = crate::relay::consume::ConsumeOptions {
        queue: args.queue.unwrap_or(settings.events.example_queue.clone()),
        max_attempts: args.max_attempts.max(1),
        fail_type: args.fail_type,
    };
    let url = settings.events.amqp_url.expose_secret();
    crate::relay::consume::run(&pool, url, &options, super::shutdown_token()).await
}
