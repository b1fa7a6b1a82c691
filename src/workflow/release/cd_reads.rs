//! What the approval loop reads and decides in Azure DevOps, whether the CD is a classic release
//! or a YAML pipeline run: its stages, the people behind a stage's approvers, the approvals a
//! stage still waits for, and the decision on one.

use super::state::{CdRelease, ReleaseRun};
use super::{ReleaseFlow, gates};
use crate::azdo::{ApprovalId, ApproverRef, Stage, Wait};
use crate::domain::{Approver, CdKind, RepoName};
use crate::workflow::{StepError, cd_approval};

impl ReleaseFlow {
    /// The stages that deploy, in Azure DevOps' order. A YAML CI run that deploys itself
    /// starts with its build: the stages REPOS_CONFIG `stages` does not name, or else its first.
    pub(super) async fn cd_stages(
        &self,
        run: &ReleaseRun,
        cd: &CdRelease,
    ) -> Result<Vec<Stage>, StepError> {
        Ok(match cd.kind {
            CdKind::Classic => self.azdo.release(&run.repo, cd.id).await?.stages,
            CdKind::Yaml => {
                let stages = self.azdo.run_stages(&run.repo, cd.id).await?;
                // A rollback has no build of its own: the configuration says whether the
                // pipeline deploys in its CI run.
                let own_run = run.build.as_ref().map_or_else(
                    || self.repos_config.for_repo(&run.repo).cd_pipeline.is_none(),
                    |b| b.id == cd.id,
                );
                if !own_run {
                    return Ok(stages);
                }
                let configured = self.repos_config.for_repo(&run.repo).stages;
                let build: Vec<i64> = gates::build_stages(&stages, &configured)
                    .iter()
                    .map(|s| s.id)
                    .collect();
                stages
                    .into_iter()
                    .filter(|s| !build.contains(&s.id))
                    .collect()
            }
        })
    }

    /// Approves or rejects one approval in Azure DevOps.
    pub(super) async fn decide(
        &self,
        run: &ReleaseRun,
        cd: &CdRelease,
        approval: &ApprovalId,
        approve: bool,
        comment: &str,
    ) -> Result<(), crate::azdo::AzdoError> {
        match cd.kind {
            CdKind::Classic => {
                self.azdo
                    .decide_approval(&run.repo, approval, approve, comment)
                    .await
            }
            CdKind::Yaml => {
                self.azdo
                    .decide_check(&run.repo, approval, approve, comment)
                    .await
            }
        }
    }

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

    /// Whether `approval` still waits for the bot's decision: Azure DevOps lists it as pending,
    /// and the bot's account is not among those who approved it already.
    pub(super) async fn waits_for_bot(
        &self,
        run: &ReleaseRun,
        cd: &CdRelease,
        approval: &ApprovalId,
    ) -> Result<bool, StepError> {
        let stages = self.cd_stages(run, cd).await?;
        cd_approval::waits_for_bot(self.azdo.as_ref(), &stages, approval).await
    }

    /// The ids of the approvals `stage` still waits for.
    pub(super) async fn pending_of(
        &self,
        run: &ReleaseRun,
        cd: &CdRelease,
        stage: &str,
    ) -> Result<Vec<ApprovalId>, StepError> {
        let stages = self.cd_stages(run, cd).await?;
        Ok(stages
            .iter()
            .filter(|s| s.name.eq_ignore_ascii_case(stage))
            .filter_map(|s| match &s.waiting {
                Some(Wait::Approval(list)) => Some(list.iter().map(|a| a.id.clone())),
                _ => None,
            })
            .flatten()
            .collect())
    }
}
