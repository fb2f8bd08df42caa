use std::net::SocketAddr;

use crate::cli::{GlobalArgs, SandboxArgs};
use crate::sandbox::Sandbox;

/// `checkout sandbox`: the local gateway on its own port (no database needed).
pub async fn sandbox(global: GlobalArgs, args: SandboxArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&global, Some("sandbox"))?;
    let shutdown = super::shutdown_token();
    let sandbox = Sandbox::bind(
        settings.sandbox.clone(),
        SocketAddr::new(settings.http.host, args.port),
    )
    .await?;
    let local = sandbox.local_addr()?;
    println!("sandbox listening on http://{local}");
    sandbox.run(shutdown.cancelled_owned()).await?;
    Ok(())
}
