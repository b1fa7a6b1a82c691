//! The binary: parse the command line, install the TLS provider, read the config, init logging,
//! dispatch. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use release_agent::cli::{Cli, CliCommand};
use release_agent::config::{Config, DatabaseUrl, LogFormat, env_lookup};
use release_agent::reviewer::Verdict;
use release_agent::startup::{Application, open_store};
use release_agent::store::Store;
use release_agent::{check, telemetry};
use release_agent::{import, local_review};
use tokio_util::sync::CancellationToken;

/// mimalloc rather than glibc's malloc: the ack path allocates for every envelope, and under a
/// burst glibc's malloc and free were a fifth of the CPU (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = match cli.command.unwrap_or(CliCommand::Serve) {
        CliCommand::Review {
            repo,
            source,
            target,
        } => return review(&repo, &source, &target),
        CliCommand::ImportJson { source, dry_run } => return import_json(&source, dry_run),
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
        WithConfig::Serve => serve(config).await,
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
    let app = match Application::build(config).await {
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

/// The local review: its own small config (no Slack needed) and exit codes a CI step can use.
fn review(repo: &std::path::Path, source: &str, target: &str) -> ExitCode {
    let settings = match env_lookup().and_then(Config::reviewer_from_lookup) {
        Ok(settings) => settings,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(LogFormat::Pretty);
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("cannot start the async runtime");
        return ExitCode::from(2);
    };
    match runtime.block_on(local_review::run(settings, repo, source, target)) {
        Ok(found) => {
            print!("{}", local_review::render(&found, source, target));
            match found.review.map(|r| r.verdict) {
                Some(Verdict::RequestChanges) => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("release-agent: {e}");
            ExitCode::from(2)
        }
    }
}

/// The history import: it needs only DATABASE_URL. Exit 1 when a file was refused.
fn import_json(source: &std::path::Path, dry_run: bool) -> ExitCode {
    let url = env_lookup().map(|lookup| {
        lookup("DATABASE_URL").unwrap_or_else(|| release_agent::config::DEFAULT_DATABASE_URL.into())
    });
    let database = match url
        .map_err(|e| e.to_string())
        .and_then(|u| DatabaseUrl::parse(&u).map_err(|e| format!("DATABASE_URL: {e}")))
    {
        Ok(database) => database,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let files = match import::read_dir(source) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("release-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("cannot start the async runtime");
        return ExitCode::from(2);
    };
    runtime.block_on(async {
        let store = match Store::connect(&database).await {
            Ok(store) => store,
            Err(e) => {
                eprintln!("release-agent: cannot open {}: {e}", database.redacted());
                return ExitCode::from(2);
            }
        };
        if let Err(e) = store.migrate().await {
            eprintln!("release-agent: cannot migrate the database: {e}");
            return ExitCode::from(2);
        }
        let (mut refused, mut imported) = (0, 0);
        for (path, parsed) in files {
            let releases = match parsed {
                Ok(releases) => releases,
                Err(reason) => {
                    refused += 1;
                    println!(
                        "refused {}: {reason} (nothing from it was imported)",
                        path.display()
                    );
                    continue;
                }
            };
            match import::apply(&store, &releases, dry_run, chrono::Utc::now()).await {
                Ok(lines) => {
                    for (fate, what) in lines {
                        imported += usize::from(fate == import::Fate::Imported);
                        println!(
                            "{} (from {})",
                            import::describe(fate, &what, dry_run),
                            path.display()
                        );
                    }
                }
                Err(e) => {
                    eprintln!("release-agent: {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
        let verb = if dry_run { "would import" } else { "imported" };
        println!("{verb} {imported} release(s); {refused} file(s) refused");
        store.close().await;
        if refused > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn fail(error: &dyn std::error::Error) -> ExitCode {
    tracing::error!(error = %error, "release-agent stopped");
    eprintln!("release-agent: {error}");
    ExitCode::FAILURE
}
