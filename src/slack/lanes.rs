//! `/release hotfix <repo>` and `/release rollback <repo> [version]`, answered in the ack: the
//! run starts (its card asks the rest), or the answer says why not and what to do; and
//! `/release history <repo>`, which lists what they and releases left.

use tracing::warn;

use super::front_door::{CommandCall, FrontDoor, UNREACHABLE_DB, card_url};
use super::mrkdwn;
use crate::domain::{RepoName, RunKind, Version};
use crate::store::StoreError;
use crate::workflow::release::report;
use crate::workflow::release::start::{
    HotfixRequested, RollbackRequested, request_hotfix, request_rollback,
};

impl FrontDoor {
    /// `/release history`: the released versions, then the rollbacks. Read from the database only.
    pub(super) async fn release_history(&self, repo: &RepoName) -> String {
        let read = async {
            let archived = self.store.archived(repo.as_str()).await?;
            Ok::<_, StoreError>((archived, self.store.rollbacks(repo.as_str()).await?))
        };
        match read.await {
            Ok((archived, rollbacks)) => {
                mrkdwn::lines(&report::history(repo.as_str(), &archived, &rollbacks).lines)
            }
            Err(e) => {
                warn!(error = %e, "cannot read the release history");
                UNREACHABLE_DB.into()
            }
        }
    }

    pub(super) async fn hotfix(&self, call: &CommandCall<'_>, repo: &RepoName) -> String {
        if !self.engine.runs(&RunKind::RELEASE) {
            return "Hotfixes need Azure DevOps: an admin sets AZDO_ORGANIZATION, AZDO_PROJECT and AZDO_PAT.".into();
        }
        let name = mrkdwn::escape(repo.as_str());
        let dedupe = format!("slack:command:{}", call.trigger);
        let requested = Box::pin(request_hotfix(
            &self.engine,
            &self.store,
            repo,
            call.user,
            self.clock.now(),
            Some(dedupe),
        ));
        match requested.await {
            Ok(HotfixRequested::Started(_)) => format!(
                "Starting a hotfix of {name}: its branch is made from the release branch, and the PRs merged into it ship with Ship hotfix. Follow it on its card in <#{}>.",
                self.engine.channel_for(Some(repo))
            ),
            Ok(HotfixRequested::AlreadyRunning(run)) => {
                let card = card_url(&run, call.team_domain);
                mrkdwn::lines(&[report::already_under_way(repo, &run, card)])
            }
            Ok(HotfixRequested::Duplicate) => format!("Already on it: the hotfix of {name}."),
            Err(e) => {
                warn!(error = %e, "cannot start a hotfix");
                "The hotfix could not be started: the bot cannot reach its database. Try again in a minute.".into()
            }
        }
    }

    pub(super) async fn rollback(
        &self,
        call: &CommandCall<'_>,
        repo: &RepoName,
        to: Option<Version>,
    ) -> String {
        if !self.engine.runs(&RunKind::RELEASE) {
            return "Rollbacks need Azure DevOps: an admin sets AZDO_ORGANIZATION, AZDO_PROJECT and AZDO_PAT.".into();
        }
        let name = mrkdwn::escape(repo.as_str());
        let dedupe = format!("slack:command:{}", call.trigger);
        let requested = Box::pin(request_rollback(
            &self.engine,
            &self.store,
            repo,
            call.user,
            to,
            Some(dedupe),
        ));
        match requested.await {
            Ok(RollbackRequested::Started { to, left, .. }) => format!(
                "Rolling back {name} from {left} to {to}. Each stage asks its approvers on the card in <#{}>.",
                self.engine.channel_for(Some(repo))
            ),
            Ok(RollbackRequested::AlreadyRunning(run)) => {
                let card = card_url(&run, call.team_domain);
                mrkdwn::lines(&[report::already_under_way(repo, &run, card)])
            }
            Ok(RollbackRequested::NothingBefore {
                deployed: Some(deployed),
            }) => format!(
                "Nothing to roll back to: no release of {name} before {deployed} has its deployment on record. `/release history {name}` lists the versions."
            ),
            Ok(RollbackRequested::NothingBefore { deployed: None }) => {
                format!("Nothing to roll back: the bot has released no version of {name} yet.")
            }
            Ok(RollbackRequested::NotArchived(version)) => format!(
                "{version} is not a released version of {name}. `/release history {name}` lists them."
            ),
            Ok(RollbackRequested::NoDeployment(version)) => format!(
                "{name} {version} was released before the bot kept what deployed it, so it cannot deploy it again: redeploy it in Azure DevOps."
            ),
            Ok(RollbackRequested::Deployed(version)) => {
                format!("{name} {version} is the version deployed now; name an earlier one.")
            }
            Ok(RollbackRequested::Duplicate) => format!("Already on it: the rollback of {name}."),
            Err(e) => {
                warn!(error = %e, "cannot start a rollback");
                "The rollback could not be started: the bot cannot reach its database. Try again in a minute.".into()
            }
        }
    }
}
