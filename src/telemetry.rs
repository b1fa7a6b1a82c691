//! Logging. Messages are lowercase facts with data in fields; `LOG_FORMAT=json` gives one JSON
//! object per line. `RUST_LOG` filters by level and target (`info`, `warn,release_agent=debug`;
//! default `info`). Secrets never reach a log line: they are `SecretString`s, and the clients log
//! URLs and status codes, never headers.
//!
//! Where time goes: each run's steps are a `run` span (info), and every store call and every call
//! to Azure DevOps, Jira, git, the reviewer or Slack's Web API is a span of its own (debug),
//! named for the call and carrying its ids. With debug on for the bot (`RUST_LOG=release_agent=debug`)
//! a `close` line says how long each span was busy and idle, so the log shows what a slow run
//! waited on; at info there are no such lines, and no timing cost.

use std::io;

use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;

/// How log lines are written: for people, or one JSON object per line for a log collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The subscriber `serve` uses, writing to `writer`; tests pass a buffer to inspect the output.
pub fn subscriber<W>(
    format: LogFormat,
    filter: Targets,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_span_events(span_events(&filter));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Pretty => Box::new(registry.with(layer.with_target(false))),
        LogFormat::Json => {
            Box::new(registry.with(layer.json().flatten_event(true).with_current_span(true)))
        }
    }
}

/// Span durations only when someone asks for a trace (debug for the bot): timing each poll of
/// every run's span, and a `close` line per run, cost a busy bot a measurable share of its CPU
/// (docs/performance.md).
fn span_events(filter: &Targets) -> FmtSpan {
    if filter.would_enable(env!("CARGO_CRATE_NAME"), &tracing::Level::DEBUG) {
        FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    }
}

/// The filter `RUST_LOG` asks for; `info` when it is unset, and when it cannot be read, with a
/// line on stderr that says why (logging is not up yet).
pub fn filter(rust_log: Option<&str>) -> Targets {
    let default = || Targets::new().with_default(tracing::Level::INFO);
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => default(),
        Some(text) => text.parse().unwrap_or_else(|e| {
            eprintln!(
                "RUST_LOG=`{text}` is not a log filter ({e}); logging at info. \
                 Use levels and targets such as `debug` or `warn,release_agent=debug`."
            );
            default()
        }),
    }
}

/// Installs the process-wide subscriber, logging to stderr.
pub fn init(format: LogFormat) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(rust_log.as_deref());
    let _ = tracing::subscriber::set_global_default(subscriber(format, filter, io::stderr));
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use tracing_subscriber::fmt::format::FmtSpan;

    use super::{filter, span_events};

    #[test]
    fn rust_log_picks_levels_per_target_and_info_otherwise() {
        let unset = filter(None);
        assert!(unset.would_enable("release_agent::engine", &Level::INFO));
        assert!(!unset.would_enable("release_agent::engine", &Level::DEBUG));

        let mixed = filter(Some("warn,release_agent=debug"));
        assert!(mixed.would_enable("release_agent::store", &Level::DEBUG));
        assert!(!mixed.would_enable("sqlx::query", &Level::INFO));
        assert!(mixed.would_enable("sqlx::query", &Level::WARN));

        let unreadable = filter(Some("release_agent=loud"));
        assert!(unreadable.would_enable("release_agent", &Level::INFO));
        assert!(!unreadable.would_enable("release_agent", &Level::DEBUG));
    }

    #[test]
    fn span_durations_are_logged_only_when_the_bot_is_traced() {
        assert_eq!(span_events(&filter(None)), FmtSpan::NONE);
        assert_eq!(span_events(&filter(Some("warn,sqlx=debug"))), FmtSpan::NONE);
        assert_eq!(
            span_events(&filter(Some("release_agent=debug"))),
            FmtSpan::CLOSE
        );
        assert_eq!(span_events(&filter(Some("trace"))), FmtSpan::CLOSE);
    }
}
