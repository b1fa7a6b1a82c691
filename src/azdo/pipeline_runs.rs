//! YAML pipelines as CD: a run's stages and the approvals they wait for (read from its
//! timeline, `timeline.rs`), deciding an approval, retrying a failed stage, and finding the run
//! of a separate CD pipeline that a CI build triggered.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;
use tracing::instrument;

use super::client::{AzdoClient, List};
use super::timeline::{CheckApprovalDto, RecordDto, pending_approval_ids, stages};
use super::*;
use crate::http_client::Call;

/// YAML pipeline runs that deploy.
#[async_trait]
pub trait PipelineRuns: Send + Sync {
    /// The stages of run (build) `run`, in order, with what each waits for.
    async fn run_stages(&self, repo: &RepoName, run: i64) -> Result<Vec<Stage>, AzdoError>;
    /// Approves or rejects a pending approval of a YAML stage, with a comment.
    async fn decide_check(
        &self,
        repo: &RepoName,
        approval: &ApprovalId,
        approve: bool,
        comment: &str,
    ) -> Result<(), AzdoError>;
    /// Reruns stage `stage` (its `identifier`) of run `run`: its failed jobs, or with `all_jobs`
    /// every job (a rollback deploying it again).
    async fn retry_stage(
        &self,
        repo: &RepoName,
        run: i64,
        stage: &str,
        all_jobs: bool,
    ) -> Result<(), AzdoError>;
    /// The run of pipeline `pipeline` (an id or a name) that build `ci` triggered, if one is
    /// queued yet.
    async fn triggered_run(
        &self,
        repo: &RepoName,
        pipeline: &str,
        ci: &Build,
    ) -> Result<Option<Build>, AzdoError>;
}

#[derive(serde::Deserialize)]
struct TimelineDto {
    #[serde(default)]
    records: Vec<RecordDto>,
}

impl AzdoClient {
    /// A PATCH whose answer the bot does not need.
    async fn patch(&self, url: url::Url, body: serde_json::Value) -> Result<(), AzdoError> {
        self.send(Call::with_body(Method::PATCH, url, body, false))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl PipelineRuns for AzdoClient {
    /// https://learn.microsoft.com/rest/api/azure/devops/build/timeline/get, then
    /// https://learn.microsoft.com/rest/api/azure/devops/approvalsandchecks/approvals/query for
    /// who the pending approvals wait for and how many must approve.
    #[instrument(level = "debug", skip_all, fields(run))]
    async fn run_stages(&self, repo: &RepoName, run: i64) -> Result<Vec<Stage>, AzdoError> {
        let timeline: TimelineDto = self
            .get(self.url(
                repo,
                &["build", "builds", &run.to_string(), "timeline"],
                &[],
            ))
            .await?;
        let pending = pending_approval_ids(&timeline.records);
        let approvals: Vec<CheckApprovalDto> = if pending.is_empty() {
            Vec::new()
        } else {
            let ids = pending.join(",");
            let query = [("approvalIds", ids.as_str()), ("$expand", "steps")];
            let url = self.url(repo, &["pipelines", "approvals"], &query);
            let list: List<CheckApprovalDto> = self.get(self.preview_before(&[7, 1], url)).await?;
            list.value
        };
        Ok(stages(&timeline.records, &approvals))
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/approvalsandchecks/approvals/update
    #[instrument(level = "debug", skip_all, fields(approval = %approval, approve))]
    async fn decide_check(
        &self,
        repo: &RepoName,
        approval: &ApprovalId,
        approve: bool,
        comment: &str,
    ) -> Result<(), AzdoError> {
        let status = if approve { "approved" } else { "rejected" };
        let url = self.url(repo, &["pipelines", "approvals"], &[]);
        let body = json!([{"approvalId": approval.as_str(), "status": status, "comment": comment}]);
        self.patch(self.preview_before(&[7, 1], url), body).await
    }

    /// https://learn.microsoft.com/rest/api/azure/devops/build/stages/update
    #[instrument(level = "debug", skip_all, fields(run, stage))]
    async fn retry_stage(
        &self,
        repo: &RepoName,
        run: i64,
        stage: &str,
        all_jobs: bool,
    ) -> Result<(), AzdoError> {
        let url = self.url(
            repo,
            &["build", "builds", &run.to_string(), "stages", stage],
            &[],
        );
        let body = json!({"state": "retry", "forceRetryAllJobs": all_jobs});
        self.patch(self.preview_before(&[7, 0], url), body).await
    }

    /// The newest runs of the pipeline; the one `triggeredByBuild` names `ci`, or else a later
    /// run of the same commit (a pipeline resource trigger).
    #[instrument(level = "debug", skip_all, fields(pipeline, ci = ci.id))]
    async fn triggered_run(
        &self,
        repo: &RepoName,
        pipeline: &str,
        ci: &Build,
    ) -> Result<Option<Build>, AzdoError> {
        let definition = self.ci_definition(repo, Some(pipeline)).await?;
        let runs = self.builds_of(repo, definition.id, None).await?;
        let by_trigger = runs.iter().find(|r| r.triggered_by == Some(ci.id));
        let by_commit = || {
            runs.iter().find(|r| {
                r.id > ci.id && ci.source_commit.is_some() && r.source_commit == ci.source_commit
            })
        };
        Ok(by_trigger.or_else(by_commit).cloned())
    }
}
