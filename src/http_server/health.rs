//! `GET /status` (health) and `GET /metrics` (Prometheus). Both are open: a load balancer or
//! Prometheus asks them without credentials, and they show counts, never content; `/status`
//! gives its details only to an operator token.

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, State, auth};
use crate::metrics::{self, Snapshot};

/// 200 while the database answers, 503 when it does not (with, for an operator, since when); the Slack
/// connection is reported but does not fail the check, since Socket Mode reconnects by itself.
/// Without an operator token the answer is the word alone: an outsider learns no version, no
/// backend and no connection history.
pub async fn status(axum::extract::State(shared): State, headers: HeaderMap) -> Response {
    let database = shared.store.ping().await;
    let slack = shared.slack.report();
    let healthy = database.is_ok();
    let word = if healthy && slack.connected {
        "ok"
    } else if healthy {
        "degraded"
    } else {
        "down"
    };
    let body = if auth::operator(&headers, &shared.settings).is_ok() {
        json!({
            "status": word,
            "version": env!("CARGO_PKG_VERSION"),
            "database": {
                "backend": shared.store.backend(),
                "ok": healthy,
                "down_since": shared.store.down_since(),
            },
            "slack": slack,
        })
    } else {
        json!({ "status": word })
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

pub async fn metrics(axum::extract::State(shared): State) -> Result<Response, ApiError> {
    let snapshot = Snapshot {
        runs: shared.store.count_runs().await?,
        approvals_waiting: shared.store.count_pending_approvals().await?,
        reviews_this_month: shared
            .store
            .spent_since(crate::workflow::pr::month_start(shared.engine.now()))
            .await?,
    };
    Ok((
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(&snapshot),
    )
        .into_response())
}
