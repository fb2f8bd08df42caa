//! The `checkout` binary: parse the command line, run one role.

use std::process::ExitCode;

use checkout::cli::{Cli, Command};
use checkout::roles;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { global, command } = Cli::parse();
    let result = match command {
        Command::Serve(args) => roles::serve(global, args).await,
        Command::Worker => roles::worker(global).await,
        Command::Scheduler => roles::scheduler(global).await,
        Command::Relay => roles::relay(global).await,
        Command::Consume(args) => roles::consume(global, args).await,
        Command::Migrate => roles::migrate(global).await,
        Command::Dev(args) => roles::dev(global, args).await,
        Command::Admin(args) => roles::admin(global, args).await,
        Command::Sandbox(args) => roles::sandbox(global, args).await,
        Command::Loadtest(args) => roles::loadtest(global, *args).await,
    };
    checkout::telemetry::traces::shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("checkout: {e:#}");
            ExitCode::FAILURE
        }
    }
}
