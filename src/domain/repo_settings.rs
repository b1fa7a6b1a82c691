//! Per-repository settings (REPOS_CONFIG): which CI and release definitions a repository uses,
//! the order of its CD stages, its branches, its channel, its Jira project and who approves.
//! Every key is optional; a repository that is not listed uses the defaults. `config` reads the
//! file.

use serde::{Deserialize, Deserializer, Serialize};

use super::{RepoApprovers, RepoName, TagFormat};

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSettings {
    #[serde(default, deserialize_with = "id_or_name")]
    pub ci_definition: Option<String>,
    #[serde(default, deserialize_with = "id_or_name")]
    pub release_definition: Option<String>,
    /// How the repository deploys: classic releases (the default) or a YAML pipeline.
    #[serde(default)]
    pub cd: CdKind,
    /// With `cd = "yaml"`, the pipeline (id or name) whose runs deploy; by default the CI
    /// pipeline's own run, whose stages after its first deploy.
    #[serde(default, deserialize_with = "id_or_name")]
    pub cd_pipeline: Option<String>,
    #[serde(default)]
    pub stages: Vec<String>,
    pub target_branch: Option<String>,
    pub release_branch: Option<String>,
    pub slack_channel: Option<String>,
    pub jira_project: Option<String>,
    /// The Azure DevOps project the repository lives in; default `AZDO_PROJECT`.
    pub project: Option<String>,
    /// Who may decide what in this repository; see [`ApprovalPolicy`](super::ApprovalPolicy).
    #[serde(default)]
    pub approvers: RepoApprovers,
    /// Overrides `ALLOW_SELF_APPROVAL` for this repository.
    pub allow_self_approval: Option<bool>,
    /// A CI build that partially succeeded counts as green (Azure DevOps' `partiallySucceeded`).
    #[serde(default)]
    pub accept_partially_succeeded: bool,
    /// How version tags are named (default `v{version}`): the last version comes from them when
    /// the bot has released nothing yet, and each release gets one.
    #[serde(default)]
    pub tag_format: TagFormat,
    /// While the major version is 0, a breaking change bumps the minor version.
    #[serde(default)]
    pub bump_minor_pre_major: bool,
    /// Whether releases set a Jira fix version on their tickets (default: yes, with Jira).
    pub jira_fix_version: Option<bool>,
    /// The fix version's name, with `{repo}` and `{version}` (default `{repo} {version}`).
    pub jira_version_format: Option<String>,
}

impl RepoSettings {
    /// The name of the Jira fix version of `repo`'s `version`.
    pub fn jira_version_name(&self, repo: &RepoName, version: &str) -> String {
        self.jira_version_format
            .as_deref()
            .unwrap_or("{repo} {version}")
            .replace("{repo}", repo.as_str())
            .replace("{version}", version)
    }
}

/// What deploys a repository's release.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CdKind {
    /// A classic release that Azure DevOps creates from the CI build.
    #[default]
    Classic,
    /// The stages of a YAML pipeline run, gated by environment approvals and checks.
    Yaml,
}

/// The settings of every repository REPOS_CONFIG names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReposConfig {
    repos: Vec<(RepoName, RepoSettings)>,
}

impl ReposConfig {
    pub fn new(repos: Vec<(RepoName, RepoSettings)>) -> Self {
        Self { repos }
    }

    /// The settings for `repo` (matched as Azure DevOps does, ignoring case), or the defaults.
    pub fn for_repo(&self, repo: &RepoName) -> RepoSettings {
        self.repos
            .iter()
            .find(|(name, _)| name.same_as(repo.as_str()))
            .map(|(_, settings)| settings.clone())
            .unwrap_or_default()
    }

    /// The repositories in an Azure DevOps project of their own, with that project.
    pub fn projects(&self) -> Vec<(RepoName, String)> {
        self.repos
            .iter()
            .filter_map(|(name, s)| Some((name.clone(), s.project.clone()?)))
            .collect()
    }

    /// The repositories whose cards go to their own channel, with that channel.
    pub fn channels(&self) -> Vec<(RepoName, String)> {
        self.repos
            .iter()
            .filter_map(|(name, s)| Some((name.clone(), s.slack_channel.clone()?)))
            .collect()
    }

    pub fn repos(&self) -> impl Iterator<Item = &RepoName> {
        self.repos.iter().map(|(name, _)| name)
    }
}

/// A definition is named by its id (a TOML integer) or its name (a string).
fn id_or_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdOrName {
        Id(i64),
        Name(String),
    }
    Ok(
        Option::<IdOrName>::deserialize(deserializer)?.map(|v| match v {
            IdOrName::Id(id) => id.to_string(),
            IdOrName::Name(name) => name,
        }),
    )
}
