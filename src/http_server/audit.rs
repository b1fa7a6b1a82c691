//! `GET /audit?repo=&version=`: a release's audit trail (see `workflow::release::audit`) as JSON,
//! or as CSV with `Accept: text/csv`. Read-only: any operator token may read it.

use axum::Json;
use axum::extract::Query;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::operator::known;
use super::{ApiError, State};
use crate::domain::Version;
use crate::workflow::release::audit::{self, NoTrail};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    repo: Option<String>,
    version: Option<String>,
}

pub async fn trail(
    axum::extract::State(shared): State,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let repo = query.repo.ok_or_else(|| {
        ApiError::bad_request("which repository? GET /audit?repo=<repo>[&version=1.4.3]")
    })?;
    let repo = known(&shared, &repo)?;
    let version = query
        .version
        .map(|v| {
            v.trim_start_matches(['v', 'V'])
                .parse::<Version>()
                .map_err(|_| {
                    ApiError::bad_request(format!("`{v}` is not a version: write it as 1.4.3"))
                })
        })
        .transpose()?;
    let trail = match audit::load(&shared.store, &repo, version).await {
        Ok(trail) => trail,
        Err(NoTrail::Store(e)) => return Err(e.into()),
        Err(other) => return Err(ApiError::new(StatusCode::NOT_FOUND, other.to_string())),
    };
    let wants_csv = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"));
    if wants_csv {
        let csv = audit::csv(&trail);
        return Ok(([(CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response());
    }
    Ok(Json(trail).into_response())
}
