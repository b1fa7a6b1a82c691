//! Azure DevOps' JSON for pull requests and repositories, as the client reads it.

use serde::Deserialize;

use super::client::{IdentityDto, Links};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CommitRef {
    pub(super) commit_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProjectRef {
    pub(super) id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RepoDto {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) project: Option<ProjectRef>,
    pub(super) default_branch: Option<String>,
    #[serde(default)]
    pub(super) remote_url: String,
    #[serde(default)]
    pub(super) web_url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PrDto {
    pub(super) pull_request_id: u32,
    pub(super) status: String,
    #[serde(default)]
    pub(super) is_draft: bool,
    #[serde(default)]
    pub(super) title: String,
    pub(super) description: Option<String>,
    pub(super) source_ref_name: String,
    pub(super) target_ref_name: String,
    pub(super) created_by: Option<IdentityDto>,
    pub(super) last_merge_source_commit: Option<CommitRef>,
    pub(super) last_merge_target_commit: Option<CommitRef>,
    pub(super) last_merge_commit: Option<CommitRef>,
    pub(super) merge_status: Option<String>,
    pub(super) merge_failure_message: Option<String>,
    pub(super) auto_complete_set_by: Option<IdentityDto>,
    pub(super) closed_date: Option<chrono::DateTime<chrono::Utc>>,
    pub(super) repository: RepoDto,
    #[serde(rename = "_links")]
    pub(super) links: Option<Links>,
    #[serde(default)]
    pub(super) labels: Vec<LabelDto>,
}

/// A PR label (`WebApiTagDefinition`).
#[derive(Deserialize)]
pub(super) struct LabelDto {
    pub(super) name: String,
    #[serde(default = "active")]
    pub(super) active: bool,
}

fn active() -> bool {
    true
}
