//! Prometheus metrics. The counters and the ack histogram live for the whole process (the
//! clients and the Socket Mode callbacks record into them from anywhere); the run and approval
//! gauges are read from the database at each scrape, so every replica reports the same truth.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The content type of [`render`]'s output: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Metrics {
    registry: Registry,
    ack_seconds: HistogramVec,
    external_calls: IntCounterVec,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    // Slack allows 3 s; the interesting part is far below that.
    let buckets = vec![
        0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0,
    ];
    let ack_seconds = HistogramVec::new(
        HistogramOpts::new(
            "release_agent_ack_seconds",
            "Time from a Socket Mode envelope's arrival to its ack",
        )
        .buckets(buckets),
        &["kind"],
    )
    .expect("valid histogram");
    let external_calls = IntCounterVec::new(
        Opts::new(
            "release_agent_external_calls_total",
            "Calls to Slack, Azure DevOps and Jira, by outcome",
        ),
        &["service", "outcome"],
    )
    .expect("valid counter");
    registry
        .register(Box::new(ack_seconds.clone()))
        .expect("registered once");
    registry
        .register(Box::new(external_calls.clone()))
        .expect("registered once");
    Metrics {
        registry,
        ack_seconds,
        external_calls,
    }
});

/// Records how long an envelope of `kind` (command, interaction, event) took to ack.
pub fn observe_ack(kind: &str, took: Duration) {
    METRICS
        .ack_seconds
        .with_label_values(&[kind])
        .observe(took.as_secs_f64());
}

/// Counts one call to `service` (`slack`, `Azure DevOps`, `Jira`) that ended in `outcome`.
pub fn external_call(service: &str, outcome: &str) {
    METRICS
        .external_calls
        .with_label_values(&[service, outcome])
        .inc();
}

/// What the database says at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// (kind, status, count) of runs.
    pub runs: Vec<(String, String, i64)>,
    pub approvals_waiting: i64,
    /// The reviews of this calendar month (UTC) and what they cost.
    pub reviews_this_month: crate::store::Spent,
}

/// The whole exposition: the process metrics and `snapshot`.
pub fn render(snapshot: &Snapshot) -> String {
    let scrape = Registry::new();
    let runs = IntGaugeVec::new(
        Opts::new("release_agent_runs", "Runs by kind and state"),
        &["kind", "state"],
    )
    .expect("valid gauge");
    for (kind, state, count) in &snapshot.runs {
        runs.with_label_values(&[kind.as_str(), state.as_str()])
            .set(*count);
    }
    let waiting = IntGauge::new(
        "release_agent_approvals_waiting",
        "Approvals waiting for a decision",
    )
    .expect("valid gauge");
    waiting.set(snapshot.approvals_waiting);
    let month = &snapshot.reviews_this_month;
    let review_gauges = [
        (
            "release_agent_reviews_this_month",
            "AI reviews done this calendar month (UTC)",
            month.reviews as f64,
        ),
        (
            "release_agent_review_cost_usd_this_month",
            "Dollars the AI reviews of this calendar month (UTC) cost, as the CLI reported",
            month.cost_usd,
        ),
        (
            "release_agent_review_tokens_this_month",
            "Tokens the AI reviews of this calendar month (UTC) used, as the CLI reported",
            month.tokens as f64,
        ),
    ];
    for (name, help, value) in review_gauges {
        let gauge = Gauge::new(name, help).expect("valid gauge");
        gauge.set(value);
        scrape.register(Box::new(gauge)).expect("registered once");
    }
    scrape.register(Box::new(runs)).expect("registered once");
    scrape.register(Box::new(waiting)).expect("registered once");
    let mut families = METRICS.registry.gather();
    families.extend(scrape.gather());
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut out)
        .expect("writing to a Vec cannot fail");
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_every_family_in_text_format() {
        observe_ack("command", Duration::from_millis(3));
        external_call("Jira", "ok");
        let text = render(&Snapshot {
            runs: vec![("pr".into(), "waiting".into(), 2)],
            approvals_waiting: 2,
            reviews_this_month: crate::store::Spent {
                reviews: 3,
                cost_usd: 0.126,
                tokens: 4_500,
            },
        });
        assert!(
            text.contains("# TYPE release_agent_ack_seconds histogram"),
            "{text}"
        );
        assert!(text.contains("release_agent_ack_seconds_bucket{kind=\"command\",le=\"0.005\"}"));
        assert!(
            text.contains("release_agent_external_calls_total{outcome=\"ok\",service=\"Jira\"}")
        );
        assert!(text.contains("release_agent_runs{kind=\"pr\",state=\"waiting\"} 2"));
        assert!(text.contains("release_agent_approvals_waiting 2"));
        assert!(text.contains("release_agent_review_cost_usd_this_month 0.126"));
        assert!(text.contains("release_agent_review_tokens_this_month 4500"));
    }
}
