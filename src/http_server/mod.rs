//! The optional HTTP receiver (HTTP_PORT): health and metrics, Azure DevOps service hooks, the
//! operator REST API, and Slack over HTTP (`slack.rs`). Read `health.rs`, `webhook.rs`, then `operator.rs`.
//!
//! Every answer is JSON (but `/metrics`), errors are `{"error": "…"}` saying what was wrong, and
//! no answer repeats a secret. Secrets and tokens are checked before a body is read, and bodies
//! over 1 MiB get 413 before any handler runs; both answers close the connection. Slow clients,
//! floods and long requests meet the limits in `limits.rs`. Handlers only touch the database
//! (and a webhook asks Azure DevOps for the PR's commit): the runs they start are carried out
//! by the engine afterwards.

mod audit;
mod auth;
mod health;
mod limits;
mod operator;
pub mod slack;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::azdo::AzureDevOps;
use crate::domain::RepoName;
use crate::slack::link::SlackLink;
use crate::store::Store;
use crate::workflow::Engine;
use crate::workflow::intake::Intake;

/// The largest body any endpoint accepts.
pub const MAX_BODY: usize = 1024 * 1024;

/// Where the receiver listens and the secrets it checks (HTTP_PORT and around).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// HTTP_BIND:HTTP_PORT; port 0 lets the system choose (tests).
    pub addr: SocketAddr,
    /// Shared with the Azure DevOps service hook; unset, every webhook is refused.
    pub webhook_secret: Option<SecretString>,
    /// OPERATOR_TOKEN: names nobody, so it reads and starts runs but decides nothing.
    pub operator_token: Option<SecretString>,
    /// OPERATOR_TOKENS: each acts as its Slack user, under the same policy as their clicks.
    pub operator_tokens: Vec<OperatorToken>,
}

/// A token of OPERATOR_TOKENS: whoever sends it acts as `user`.
#[derive(Debug, Clone)]
pub struct OperatorToken {
    pub user: String,
    pub token: SecretString,
}

/// What the handlers share.
pub struct Shared {
    pub store: Store,
    pub engine: Engine,
    pub intake: Intake,
    pub slack: SlackLink,
    pub settings: HttpSettings,
    /// The repositories the bot works with, each with the branch its PRs target.
    pub repos: Vec<(RepoName, String)>,
    /// Asked whether a webhook's commit is the PR's current one; `None` without Azure DevOps.
    pub azdo: Option<Arc<dyn AzureDevOps>>,
    /// Slack over HTTP, when SLACK_SIGNING_SECRET is set.
    pub slack_http: Option<slack::SlackOverHttp>,
}

impl Shared {
    /// `name` as the bot spells it, if the bot works with that repository.
    fn known_repo(&self, name: &str) -> Option<&(RepoName, String)> {
        self.repos.iter().find(|(repo, _)| repo.same_as(name))
    }
}

type State = axum::extract::State<Arc<Shared>>;

/// A bound listener, so a port in use is a start-up error and tests learn the port.
pub struct HttpServer {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl HttpServer {
    pub async fn bind(shared: Shared) -> std::io::Result<Self> {
        let listener = TcpListener::bind(shared.settings.addr).await?;
        Ok(Self {
            listener,
            shared: Arc::new(shared),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`; requests in flight are finished first.
    pub async fn serve(self, shutdown: CancellationToken) {
        let addr = self.local_addr().ok();
        info!(?addr, "HTTP receiver listening");
        limits::serve(self.listener, router(self.shared), shutdown).await;
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let operator = Router::new()
        .route("/approvals/pending", get(operator::pending))
        .route("/approvals/{id}", post(operator::decide))
        .route("/manual/pr/{id}", post(operator::manual_pr))
        .route("/manual/release", post(operator::manual_release))
        .route("/releases/{repo}", get(operator::releases))
        .route("/staging", get(operator::staging))
        .route("/audit", get(audit::trail))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            operator_only,
        ));
    let hooks = Router::new()
        .route("/webhooks/azdo", post(webhook::azdo))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            webhooks_only,
        ));
    let slack = [
        ("/slack/commands", slack::Endpoint::Commands),
        ("/slack/interactions", slack::Endpoint::Interactions),
        ("/slack/events", slack::Endpoint::Events),
    ]
    .into_iter()
    .fold(Router::new(), |router, (path, endpoint)| {
        router.route(
            path,
            post(move |state: State, headers, body| {
                slack::receive(endpoint, state.0, headers, body)
            }),
        )
    });
    Router::new()
        .route("/status", get(health::status))
        .route("/metrics", get(health::metrics))
        .merge(operator)
        .merge(hooks)
        .merge(slack)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(middleware::from_fn(refuse_large_bodies))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(
            Arc::new(limits::Admission::default()),
            limits::admit,
        ))
        .with_state(shared)
}

/// The operator token, checked from the headers before the body is read; the handlers find
/// who the caller is in the request's extensions.
async fn operator_only(
    axum::extract::State(shared): State,
    mut request: Request,
    next: Next,
) -> Response {
    match auth::operator(request.headers(), &shared.settings) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refused) => closing(refused.into_response()),
    }
}

/// The webhook secret, checked from the headers before the body is read.
async fn webhooks_only(
    axum::extract::State(shared): State,
    request: Request,
    next: Next,
) -> Response {
    match auth::webhook(request.headers(), shared.settings.webhook_secret.as_ref()) {
        Ok(()) => next.run(request).await,
        Err(refused) => closing(refused.into_response()),
    }
}

/// An answer sent without reading the body closes the connection: the unread body would
/// otherwise be taken for the client's next request on it.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// Refuses a declared oversized body on every route, before authentication and routing. A body
/// without a length is capped while it is read (see [`parse_json`]).
async fn refuse_large_bodies(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY as u64) {
        return closing(too_large().into_response());
    }
    next.run(request).await
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the body is larger than 1 MiB",
    )
}

/// An error answer: a status and a message for the caller.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The database failed; the caller may try again.
    fn unavailable(error: &crate::store::StoreError) -> Self {
        warn!(error = %error, "an HTTP request could not reach the database");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the bot cannot reach its database; try again in a minute",
        )
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::unavailable(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

/// The body, read up to [`MAX_BODY`].
type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// Parses a JSON body, whatever its content type (Azure DevOps sends `charset=utf-8`), with a
/// message that says what is wrong and where.
fn parse_json<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"))
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!("the body is not valid JSON for this endpoint: {e}"))
    })
}
