//! `/release freeze` and `/release unfreeze`, after the ack: only the repository's release
//! approvers may change a freeze (asking Slack about groups is why this waits for the intake).
//! The change, its audit entry and the answer to the asker are one write.

use super::{Asker, Intake};
use crate::domain::{Decides, Line, Message, RepoName};
use crate::store::{AuditEntry, Freeze, OutboxItem, StoreError};
use crate::workflow::decide::Permission;
use crate::workflow::freeze;

impl Intake {
    /// Freezes `repo` for `reason`, or unfreezes it (`None`), if the asker may decide its
    /// releases; otherwise the refusal is audited and explained.
    pub(super) async fn change_freeze(
        &self,
        key: &str,
        repo: &RepoName,
        reason: Option<String>,
        asker: Asker<'_>,
    ) -> Result<(), StoreError> {
        let verb = if reason.is_some() {
            "freeze"
        } else {
            "unfreeze"
        };
        let now = self.clock.now();
        let answer = |line: Line| {
            OutboxItem::ephemeral(asker.channel, asker.user, Message::new([line]))
                .answering(asker.response_url)
        };
        if let Err(rejection) = self.may_freeze(asker.user, repo).await {
            let detail = format!("{verb} of {repo} refused: {}", rejection.code());
            let audit =
                AuditEntry::new(None, asker.user, "freeze_refused", detail).via("slash command");
            let note = OutboxItem::ephemeral(asker.channel, asker.user, rejection.explain())
                .answering(asker.response_url);
            if self
                .store
                .refuse_delivery(Some(key), &audit, Some(&note), now)
                .await?
            {
                self.wakers.outbound.notify_one();
            }
            return Ok(());
        }
        let freeze = reason.map(|reason| Freeze {
            repo: repo.to_string(),
            reason,
            frozen_by: asker.user.to_owned(),
            frozen_at: now,
        });
        let (action, detail, line) = match &freeze {
            Some(f) => (
                "froze",
                format!("froze {repo}: {}", f.reason),
                freeze::said(f).plain(format!(
                    ". Merge buttons and release starts are refused until `/release unfreeze {repo}`."
                )),
            ),
            None if self.store.freeze_of(repo.as_str()).await?.is_none() => (
                "unfroze",
                format!("unfroze {repo}, which was not frozen"),
                Line::new().plain(format!("{repo} was not frozen; nothing changed.")),
            ),
            None => (
                "unfroze",
                format!("unfroze {repo}"),
                Line::new()
                    .bold(repo.to_string())
                    .plain(" is no longer frozen: merges and releases go on."),
            ),
        };
        let audit = AuditEntry::new(None, asker.user, action, detail).via("slash command");
        let done = self
            .store
            .change_freeze(
                key,
                repo.as_str(),
                freeze.as_ref(),
                &audit,
                &answer(line),
                now,
            )
            .await?;
        if done {
            self.wakers.outbound.notify_one();
        }
        Ok(())
    }

    /// Whether `user` is one of the people who decide `repo`'s releases.
    async fn may_freeze(&self, user: &str, repo: &RepoName) -> Permission {
        let deciders = self.policy.rule(Some(repo), &Decides::Release).deciders;
        self.one_of(user, deciders, format!("freezes of {repo}"))
            .await
    }
}
