//! What a release run knows: the release it ships (version, tickets, PRs), the release PR, the
//! CI build, the CD release and its stages, and who decided what, plus the step it is at
//! (flattened in as `"step"`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::fix_versions::FixVersion;
pub use super::rollback::RollbackPlan;
use crate::azdo::ApprovalId;
pub use crate::domain::CdRelease;
use crate::domain::{Approver, RepoName, Version};
use crate::store::{StagedPr, StagingRelease};
pub use crate::workflow::ci::BuildRef;
use crate::workflow::merge::MergeHold;
pub use crate::workflow::tickets::Ticket;

/// The release PR, as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePr {
    pub id: u32,
    pub url: String,
    /// The source commit the card showed; the merge passes it as lastMergeSourceCommit.
    pub commit: String,
    /// An open release PR existed already and was reused.
    #[serde(default)]
    pub reused: bool,
}

/// A stage as the card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageSeen {
    pub name: String,
    /// `deployed`, `waiting for approval`, `deploying`, `skipped`…
    pub state: String,
}

/// A hotfix lane: its branch off the release branch (named once the version is known), and
/// since when PRs merged into it count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hotfix {
    #[serde(default)]
    pub branch: String,
    pub since: DateTime<Utc>,
}

/// A version someone asked for with `/release <repo> <version>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChosenVersion {
    pub version: Version,
    /// The Slack user id.
    pub by: String,
}

/// A decision someone made in Slack, for the card and the release notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signoff {
    /// `created the release PR`, `approved Production`…
    pub what: String,
    /// The Slack user id.
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum ReleaseStep {
    Load,
    AskCreate,
    CreatePr,
    AskMerge,
    Merge,
    /// Branch policies hold the release PR back: retry the merge when they pass, or cancel.
    MergeHeld {
        hold: MergeHold,
    },
    /// The release PR moved after the card showed it; nothing was merged.
    Stale {
        reason: String,
    },
    /// The merge commit gets the version's tag.
    Tag,
    /// The tickets get the release's Jira fix version.
    FixVersions,
    QueueBuild,
    /// `since`: when the watch began; `None` starts it at the next look.
    WatchBuild {
        since: Option<DateTime<Utc>>,
    },
    FindCd {
        since: Option<DateTime<Utc>>,
    },
    /// The approval loop's look at the CD release. `since`: when the stage situation `watching`
    /// (see [`ReleaseRun::watching`]) began.
    Stages {
        since: Option<DateTime<Utc>>,
    },
    AskStage {
        stage: String,
        approvals: Vec<ApprovalId>,
        post_deploy: bool,
        /// How many people Azure DevOps asks for (a YAML approval's `minRequiredApprovers`).
        #[serde(default = "one")]
        required: u32,
    },
    ApproveStage {
        stage: String,
        approvals: Vec<ApprovalId>,
        /// Who approved in Slack, for the comment in Azure DevOps.
        by: String,
    },
    /// A skipped stage's pending approvals, rejected in Azure DevOps so nothing deploys it.
    RejectStage {
        stage: String,
        approvals: Vec<ApprovalId>,
        /// Who skipped in Slack, for the comment in Azure DevOps.
        by: String,
    },
    /// A stage after a skipped one waits for its trigger: ask before starting it.
    AskStart {
        stage: String,
        stage_id: i64,
    },
    StartStage {
        stage: String,
        stage_id: i64,
    },
    /// A failed YAML stage, rerun through the stages API; `attempt` counts the retries.
    RetryStage {
        stage: String,
        ref_name: String,
        attempt: u32,
    },
    Jira,
    Notes,
    Archive,
    /// A hotfix: its branch is made off the release branch.
    HotfixBranch,
    /// A hotfix waits for its PRs, then for Ship hotfix.
    AskShip,
    /// A rollback: the next stage of the archived release to deploy again.
    NextRedeploy,
    AskRedeploy {
        stage: String,
        stage_id: i64,
    },
    Redeploy {
        stage: String,
        stage_id: i64,
        /// Who asked in Slack, for the comment in Azure DevOps.
        by: String,
    },
    RecordRollback,
    /// Does the release branch hold commits the target branch lacks (a hotfix)?
    BackMerge,
    AskBackMerge,
    OpenBackMerge {
        /// Who asked in Slack: the back-merge PR's review is started in their name.
        by: String,
    },
    Finished,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRun {
    pub repo: RepoName,
    /// The release PR's source branch (develop) and target branch (main).
    pub from_branch: String,
    pub to_branch: String,
    #[serde(default)]
    pub version: Option<String>,
    /// The version asked for, which wins over the staged one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<ChosenVersion>,
    #[serde(default)]
    pub tickets: Vec<Ticket>,
    #[serde(default)]
    pub prs: Vec<StagedPr>,
    /// Completions of the release PR that Azure DevOps refused; a retry is a new attempt.
    #[serde(default)]
    pub merges_refused: u32,
    /// The release was frozen for shipping (taken out of staging).
    #[serde(default)]
    pub frozen: bool,
    #[serde(default)]
    pub release_pr: Option<ReleasePr>,
    #[serde(default)]
    pub merge_commit: Option<String>,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub build: Option<BuildRef>,
    /// Builds that failed; a retry does not adopt them again.
    #[serde(default)]
    pub failed_builds: Vec<i64>,
    #[serde(default)]
    pub cd: Option<CdRelease>,
    #[serde(default)]
    pub stages: Vec<StageSeen>,
    #[serde(default)]
    pub skipped: Vec<String>,
    /// What the approval loop last waited for, to know when a new wait begins.
    #[serde(default)]
    pub watching: Option<String>,
    /// Rounds of the approval loop so far (ask → approve or skip → look again).
    #[serde(default)]
    pub rounds: u32,
    /// Approvals the bot's account gave; one that Azure DevOps still lists waits for others.
    #[serde(default)]
    pub approved: Vec<ApprovalId>,
    /// Failed YAML stages retried so far.
    #[serde(default)]
    pub stage_retries: u32,
    /// Who decides the stage question being asked, when they are whom Azure DevOps lists as
    /// its approvers (`from_azure_devops`); `None`: the policy's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_deciders: Option<Vec<Approver>>,
    #[serde(default)]
    pub signoffs: Vec<Signoff>,
    #[serde(default)]
    pub released_at: Option<DateTime<Utc>>,
    /// Things that went wrong without stopping the run (a ticket that would not move).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The tickets that would not move to the released status, each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stuck: Vec<String>,
    /// The Jira versions set as the tickets' fix version, one per project.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fix_versions: Vec<FixVersion>,
    /// The commits the release branch holds and the target branch lacks, once the release is
    /// archived (`<short hash> <subject>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lacking: Vec<String>,
    /// Set when the run is a hotfix: it ships the PRs merged into its branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotfix: Option<Hotfix>,
    /// Set when the run is a rollback rather than a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackPlan>,
    /// The back-merge PR (release branch → target branch), once opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_merge: Option<ReleasePr>,
    #[serde(flatten)]
    pub step: ReleaseStep,
}

impl ReleaseRun {
    pub fn new(repo: RepoName, from_branch: String, to_branch: String) -> Self {
        Self {
            repo,
            from_branch,
            to_branch,
            version: None,
            chosen: None,
            tickets: Vec::new(),
            prs: Vec::new(),
            frozen: false,
            merges_refused: 0,
            release_pr: None,
            merge_commit: None,
            merged_at: None,
            build: None,
            failed_builds: Vec::new(),
            cd: None,
            stages: Vec::new(),
            skipped: Vec::new(),
            watching: None,
            rounds: 0,
            approved: Vec::new(),
            stage_retries: 0,
            asked_deciders: None,
            signoffs: Vec::new(),
            released_at: None,
            notes: Vec::new(),
            stuck: Vec::new(),
            fix_versions: Vec::new(),
            lacking: Vec::new(),
            hotfix: None,
            rollback: None,
            back_merge: None,
            step: ReleaseStep::Load,
        }
    }

    pub fn at(mut self, step: ReleaseStep) -> Self {
        self.step = step;
        self
    }

    /// Takes the version, PRs and tickets of `release`, keeping what is known of tickets seen
    /// before.
    pub fn take(&mut self, release: &StagingRelease) {
        let version = self.chosen.as_ref().map_or(release.version, |c| c.version);
        self.version = Some(version.to_string());
        self.prs = release.prs.clone();
        let known = std::mem::take(&mut self.tickets);
        self.tickets = release
            .tickets
            .iter()
            .filter_map(|key| {
                known
                    .iter()
                    .find(|t| t.key.as_str() == key)
                    .cloned()
                    .or_else(|| crate::domain::JiraKey::parse(key).map(Ticket::bare))
            })
            .collect();
    }

    /// `Release Billo.Api 1.4.3`, or `Hotfix Billo.Api 1.4.4`.
    pub fn title(&self) -> String {
        let kind = if self.hotfix.is_some() {
            "Hotfix"
        } else {
            "Release"
        };
        format!("{kind} {}", self.name())
    }

    /// `Billo.Api 1.4.3`, or the repository alone before the version is known.
    pub fn name(&self) -> String {
        match &self.version {
            Some(version) => format!("{} {version}", self.repo),
            None => self.repo.to_string(),
        }
    }
}

fn one() -> u32 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::flow::step_name;

    #[test]
    fn the_stored_state_names_its_step_and_round_trips() {
        let run = ReleaseRun::new(
            RepoName::parse("Billo.Api").unwrap(),
            "develop".into(),
            "main".into(),
        )
        .at(ReleaseStep::AskStage {
            stage: "Production".into(),
            approvals: vec![ApprovalId::from(7)],
            post_deploy: false,
            required: 1,
        });
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(step_name(&json), "ask_stage");
        assert_eq!(
            serde_json::from_value::<ReleaseRun>(json.clone()).unwrap(),
            run
        );
        let mut stored_before_yaml = json;
        stored_before_yaml["approvals"] = serde_json::json!([7]);
        stored_before_yaml
            .as_object_mut()
            .unwrap()
            .remove("required");
        assert_eq!(
            serde_json::from_value::<ReleaseRun>(stored_before_yaml).unwrap(),
            run,
            "a run stored with numeric approval ids still reads"
        );
    }

    #[test]
    fn taking_a_release_keeps_what_is_known_of_its_tickets() {
        let mut run = ReleaseRun::new(
            RepoName::parse("Billo.Api").unwrap(),
            "develop".into(),
            "main".into(),
        );
        run.tickets = vec![Ticket {
            summary: "Login".into(),
            url: "https://jira/browse/AB-1".into(),
            ..Ticket::bare(crate::domain::JiraKey::parse("AB-1").unwrap())
        }];
        let release = StagingRelease {
            repo: "Billo.Api".into(),
            version: Version::new(1, 4, 3),
            started_at: Utc::now(),
            tickets: vec!["AB-1".into(), "AB-2".into()],
            prs: vec![StagedPr::merged(3, "t", "", &[])],
        };
        run.take(&release);
        assert_eq!(run.name(), "Billo.Api 1.4.3");
        assert_eq!(run.tickets[0].summary, "Login");
        assert_eq!(run.tickets[1].key.as_str(), "AB-2");
        assert!(run.tickets[1].url.is_empty());
    }
}
