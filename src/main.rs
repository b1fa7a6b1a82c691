//! The binary: parse the command line, install the TLS provider, read the config, init logging,
//! dispatch. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use release_agent::cli::{Cli, CliCommand};
use release_agent::config::Config;
use release_agent::startup::{Application, open_store};
use release_agent::{check, health, import, local_review, telemetry};
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc's malloc: the ack path allocates for every envelope, and under a
/// burst glibc's malloc and free were a fifth of the CPU (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // No other process of this user may read the bot's memory or /proc/<pid>/environ, where its
    // secrets are: the reviewer runs PR authors' instructions under the same user.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        eprintln!("release-agent: cannot make the process non-dumpable: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = match cli.command.unwrap_or(CliCommand::Serve) {
        CliCommand::Review {
            repo,
            source,
            target,
        } => return local_review::command(&repo, &source, &target),
        CliCommand::ImportJson { source, dry_run } => return import::command(&source, dry_run),
        CliCommand::Health => return health::command(),
        CliCommand::Serve => WithConfig::Serve,
        CliCommand::Migrate => WithConfig::Migrate,
        CliCommand::Check => WithConfig::Check,
    };
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            for error in &errors.0 {
                eprintln!("{error}");
            }
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(dispatch(command, config))
}

/// The commands that need the whole configuration.
enum WithConfig {
    Serve,
    Migrate,
    Check,
}

async fn dispatch(command: WithConfig, config: Config) -> ExitCode {
    match command {
        WithConfig::Serve => Box::pin(serve(config)).await,
        WithConfig::Migrate => match open_store(&config).await {
            Ok(_) => {
                println!("migrations applied to {}", config.database.redacted());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        WithConfig::Check => {
            println!("{}", check::render_config(&config));
            let rows = check::run(&config).await;
            print!("{}", check::render(&rows));
            if check::passed(&rows) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    for notice in &config.notices {
        tracing::warn!(var = notice.var, "{}", notice.problem);
    }
    tokio::spawn(check_reviewer(config.reviewer.clone()));
    let app = match Box::pin(Application::build(config)).await {
        Ok(app) => app,
        Err(e) => return fail(&e),
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    match app.run_until_stopped(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Says at start-up when reviews cannot work: the CLI is missing or older than the bot's flags.
/// Reviews are one feature of many, so the bot starts anyway.
async fn check_reviewer(settings: release_agent::reviewer::ReviewerSettings) {
    let reviewer = release_agent::reviewer::ClaudeReviewer::new(settings);
    match reviewer.version_check().await {
        Ok(version) => tracing::info!(%version, "Claude Code CLI"),
        Err(problem) => tracing::warn!("reviews will fail until this is fixed: {problem}"),
    }
}

/// SIGINT or SIGTERM starts a graceful shutdown.
async fn stop_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    shutdown.cancel();
}

fn fail(error: &dyn std::error::Error) -> ExitCode {
    tracing::error!(error = %error, "release-agent stopped");
    eprintln!("release-agent: {error}");
    ExitCode::FAILURE
}
