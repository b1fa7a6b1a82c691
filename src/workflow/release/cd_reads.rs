//! What the approval loop reads of Azure DevOps besides the release itself: the people behind a
//! stage's approvers there, and the approvals a stage still waits for.

use super::ReleaseFlow;
use crate::azdo::{ApproverRef, Wait};
use crate::domain::{Approver, RepoName};
use crate::workflow::StepError;

impl ReleaseFlow {
    /// For a stage whose approvers come from Azure DevOps (`from_azure_devops`), the people
    /// behind `listed`, its approvers there; `None` for any other stage.
    pub(super) async fn azdo_deciders(
        &self,
        repo: &RepoName,
        stage: &str,
        listed: &[ApproverRef],
    ) -> Result<Option<Vec<Approver>>, StepError> {
        let settings = self.repos_config.for_repo(repo);
        let from_azdo = settings
            .approvers
            .stages
            .iter()
            .any(|(name, policy)| name.eq_ignore_ascii_case(stage) && policy.from_azure_devops);
        if !from_azdo {
            return Ok(None);
        }
        let people = self.azdo.people(listed).await?;
        Ok(Some(
            people
                .into_iter()
                .map(|p| Approver::Email {
                    email: p.email,
                    name: p.name,
                })
                .collect(),
        ))
    }

    /// Whether approval `approval` of release `release` is still pending.
    pub(super) async fn pending(
        &self,
        repo: &RepoName,
        release: i64,
        approval: i64,
    ) -> Result<bool, StepError> {
        let release = self.azdo.release(repo, release).await?;
        Ok(release.stages.iter().any(|s| {
            matches!(&s.waiting, Some(Wait::Approval(list)) if list.iter().any(|a| a.id == approval))
        }))
    }

    /// The ids of the approvals `stage` still waits for.
    pub(super) async fn pending_of(
        &self,
        repo: &RepoName,
        release: i64,
        stage: &str,
    ) -> Result<Vec<i64>, StepError> {
        let release = self.azdo.release(repo, release).await?;
        Ok(release
            .stages
            .iter()
            .filter(|s| s.name.eq_ignore_ascii_case(stage))
            .filter_map(|s| match &s.waiting {
                Some(Wait::Approval(list)) => Some(list.iter().map(|a| a.id)),
                _ => None,
            })
            .flatten()
            .collect())
    }
}
