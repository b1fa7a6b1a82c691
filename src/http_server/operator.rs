//! The operator REST API (`X-Operator-Token`, checked before the body is read: see
//! [`super::operator_only`]): decide approvals, start reviews and releases by
//! hand, and read the releases. A token of OPERATOR_TOKENS acts as its Slack user: decisions go
//! through the intake's checks like that person's click. The nameless OPERATOR_TOKEN reads and
//! starts runs (as "operator") but decides nothing. Runs start through the same entry points as
//! the slash commands.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{ApiError, Body, Shared, State, parse_json};
use crate::domain::{ApprovalId, OptionName, RepoName, RunKind, Through, Version};
use crate::store::{ApprovalRecord, Dedupe, RunRecord};
use crate::workflow::decide::Rejection;
use crate::workflow::intake::{DecisionOutcome, Via};
use crate::workflow::pr::start::{Requested, Requester, ReviewRequest, request_review};
use crate::workflow::release::start::{Asked, ReleaseRequested, request_release};

type Answer = Result<(StatusCode, Json<Value>), ApiError>;

const NAMELESS_DECIDES: &str = "OPERATOR_TOKEN names nobody, so it may read and start runs but not \
     decide: a decision is signed by a person. Give each operator their own token in \
     OPERATOR_TOKENS (U0123ABCD:<token>) and decide with it; the policy and the four-eyes rule apply \
     to them as to their clicks.";

fn ok(status: StatusCode, body: Value) -> Answer {
    Ok((status, Json(body)))
}

fn run_json(run: &RunRecord) -> Value {
    json!({
        "id": run.id.to_string(),
        "kind": run.kind,
        "subject": run.subject,
        "repo": run.repo,
        "pr": run.pr_id,
        "status": run.status.as_str(),
        "step": run.step,
        "channel": run.channel_id,
        "card_ts": run.card_ts,
    })
}

fn approval_json(approval: &ApprovalRecord, run: Option<&RunRecord>) -> Value {
    json!({
        "id": approval.id.to_string(),
        "prompt": approval.prompt,
        "options": approval.options.iter().map(|o| json!({"name": o.name.as_str(), "label": o.label})).collect::<Vec<_>>(),
        "expires_at": approval.expires_at,
        "run": run.map(run_json),
    })
}

/// `GET /approvals/pending`: what waits for a decision, oldest first.
pub async fn pending(axum::extract::State(shared): State) -> Answer {
    let mut out = Vec::new();
    for approval in shared.store.pending_approvals(500).await? {
        let run = shared.store.get_run(approval.run_id).await?;
        out.push(approval_json(&approval, run.as_ref()));
    }
    ok(StatusCode::OK, json!({ "approvals": out }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    option: String,
}

/// `POST /approvals/{id}` with `{"option": "approve"}`.
pub async fn decide(
    axum::extract::State(shared): State,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let Caller::Person(user) = caller else {
        return Err(ApiError::new(StatusCode::FORBIDDEN, NAMELESS_DECIDES));
    };
    let body: DecideBody = parse_json(body)?;
    let approval = ApprovalId::parse(&id).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{id}` is not an approval id; GET /approvals/pending lists them"
        ))
    })?;
    let option = OptionName::parse(&body.option).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not an option name (lower-case letters, digits, - and _)",
            body.option
        ))
    })?;
    match shared
        .intake
        .decide(None, approval, &option, Via::Operator { user: &user })
        .await?
    {
        DecisionOutcome::Accepted => ok(
            StatusCode::OK,
            json!({ "outcome": "accepted", "option": option.as_str(), "by": user }),
        ),
        DecisionOutcome::Counted { so_far, required } => ok(
            StatusCode::OK,
            json!({ "outcome": "counted", "option": option.as_str(), "by": user,
                    "so_far": so_far, "required": required }),
        ),
        DecisionOutcome::AlreadyHandled => ok(StatusCode::OK, json!({ "outcome": "duplicate" })),
        DecisionOutcome::Refused(rejection) => {
            let status = match rejection {
                Rejection::Unknown => StatusCode::NOT_FOUND,
                Rejection::NotOffered { .. } => StatusCode::BAD_REQUEST,
                Rejection::NotAllowed { .. } | Rejection::OwnWork { .. } => StatusCode::FORBIDDEN,
                Rejection::Unverifiable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::CONFLICT,
            };
            Err(ApiError::new(status, rejection.explain().plain_text()))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ManualPr {
    repo: Option<String>,
}

/// `POST /manual/pr/{id}`, optionally with `{"repo": "…"}`: reviews a PR as `/review` would.
pub async fn manual_pr(
    axum::extract::State(shared): State,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let pr_id = id
        .parse::<u32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request(format!("`{id}` is not a pull request number")))?;
    let empty = body
        .as_ref()
        .is_ok_and(|b| b.iter().all(u8::is_ascii_whitespace));
    let manual: ManualPr = if empty {
        ManualPr::default()
    } else {
        parse_json(body)?
    };
    let repo = manual
        .repo
        .as_deref()
        .map(|r| known(&shared, r))
        .transpose()?;
    if !shared.engine.runs(&RunKind::PR) {
        return Err(needs_azdo("reviews"));
    }
    let request = ReviewRequest {
        pr_id,
        repo,
        requester: Requester::Person {
            user: caller.name().to_owned(),
            dedupe: Dedupe::New(format!("operator:pr:{}", uuid::Uuid::new_v4())),
        },
    };
    match request_review(&shared.engine, request).await? {
        Requested::Started(run) => ok(
            StatusCode::ACCEPTED,
            json!({ "outcome": "started", "run": run.to_string() }),
        ),
        Requested::AlreadyRunning(run) => ok(
            StatusCode::CONFLICT,
            json!({ "error": "a run for this PR is already under way", "run": run_json(&run) }),
        ),
        Requested::Duplicate => ok(StatusCode::OK, json!({ "outcome": "duplicate" })),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualRelease {
    repo: String,
    /// A version of the caller's choice, above the last one released.
    #[serde(default)]
    version: Option<Version>,
}

/// `POST /manual/release` with `{"repo": "…"}` (and optionally `"version": "2.0.0"`): starts a
/// release as `/release` would.
pub async fn manual_release(
    axum::extract::State(shared): State,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Answer {
    let body: ManualRelease = parse_json(body)?;
    let repo = known(&shared, &body.repo)?;
    if !shared.engine.runs(&RunKind::RELEASE) {
        return Err(needs_azdo("releases"));
    }
    let asked = Asked {
        by: caller.name(),
        via: Through::OperatorApi.label(),
        at: shared.intake.now(),
    };
    let requested = request_release(
        &shared.engine,
        &shared.store,
        &repo,
        asked,
        body.version,
        None,
    );
    match Box::pin(requested).await? {
        ReleaseRequested::Started { run, version } => ok(
            StatusCode::ACCEPTED,
            json!({ "outcome": "started", "run": run.to_string(), "version": version }),
        ),
        ReleaseRequested::AlreadyRunning(run) => ok(
            StatusCode::CONFLICT,
            json!({ "error": format!("a release of {repo} is already under way; one release at a time per repository"), "run": run_json(&run) }),
        ),
        ReleaseRequested::NothingStaged { last } => {
            let since = last.map_or_else(String::new, |l| {
                format!(" since {} was released", l.version)
            });
            Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("nothing to release for {repo}: no PR was merged into it{since}"),
            ))
        }
        ReleaseRequested::NotHigher { chosen, last } => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{chosen} is not above {repo}'s last release, {last}: choose a higher version"),
        )),
        ReleaseRequested::Frozen(freeze) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{repo} is frozen by {} since {}: {}; nothing was started",
                freeze.frozen_by, freeze.frozen_at, freeze.reason
            ),
        )),
        ReleaseRequested::Duplicate => ok(StatusCode::OK, json!({ "outcome": "duplicate" })),
    }
}

/// `GET /releases/{repo}`: the released versions, newest first, and what is on its way.
pub async fn releases(axum::extract::State(shared): State, Path(repo): Path<String>) -> Answer {
    let repo = known(&shared, &repo)?;
    let name = repo.as_str();
    ok(
        StatusCode::OK,
        json!({
            "repo": name,
            "released": shared.store.archived(name).await?,
            "shipping": shared.store.shipping(name).await?,
            "staging": shared.store.staging(name).await?,
        }),
    )
}

#[derive(Deserialize)]
pub struct StagingQuery {
    repo: Option<String>,
}

/// `GET /staging?repo=`: the staging release of one repository, or of every repository.
pub async fn staging(
    axum::extract::State(shared): State,
    query: Result<Query<StagingQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    match query.repo {
        Some(repo) => {
            let repo = known(&shared, &repo)?;
            let staging = shared.store.staging(repo.as_str()).await?;
            ok(
                StatusCode::OK,
                json!({ "repo": repo.as_str(), "staging": staging }),
            )
        }
        None => ok(
            StatusCode::OK,
            json!({ "staging": shared.store.all_staging().await? }),
        ),
    }
}

/// The repository named `name`, if the bot works with it.
pub(super) fn known(shared: &Shared, name: &str) -> Result<RepoName, ApiError> {
    let repo = RepoName::parse(name).map_err(ApiError::bad_request)?;
    shared
        .known_repo(repo.as_str())
        .map(|(known, _)| known.clone())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "the bot does not work with repository {repo}; add it to WATCHED_REPOS or REPOS_CONFIG"
                ),
            )
        })
}

fn needs_azdo(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{what} need Azure DevOps: set AZDO_ORGANIZATION, AZDO_PROJECT and AZDO_PAT"),
    )
}
