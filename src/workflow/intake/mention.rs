//! A mention of the bot, after the ack: in the thread of a run's card, a question is recorded
//! for the answerer (`workflow::questions`), held to the asker's hourly limit, and `ignore
//! <finding>` marks one of the card's findings won't fix for the PR, if the asker may decide
//! the PR's merge. Each outcome is one write with its audit entry and the end of the delivery.

use chrono::{DateTime, TimeDelta, Utc};

use super::Intake;
use crate::domain::{Decides, Line, Message, RunKind};
use crate::store::{
    AuditEntry, Dismissal, NewQuestion, OutboxItem, QuestionKind, RunRecord, StoreError,
};
use crate::workflow::pr::state::{KeptFinding, PrRun};
use crate::workflow::pr::view::cut;
use crate::workflow::questions::Mention;

/// Where a mention came from.
pub(super) struct Mentioned<'a> {
    pub key: &'a str,
    pub user: &'a str,
    pub channel: &'a str,
    pub thread_ts: Option<&'a str>,
    pub text: &'a str,
}

const WHERE: &str = "I answer in the thread of a run's card: reply there, mention me and ask \
    a question about the review, or say `ignore <finding>` to mark one of its findings won't fix.";

impl Intake {
    pub(super) async fn mention(&self, m: Mentioned<'_>) -> Result<(), StoreError> {
        let run = match m.thread_ts {
            Some(ts) => self.store.run_by_card(m.channel, ts).await?,
            None => None,
        };
        let Some(run) = run else {
            return self
                .refuse_mention(&m, None, "not in a card's thread", WHERE)
                .await;
        };
        match Mention::parse(m.text) {
            Mention::Empty => {
                self.refuse_mention(&m, Some(&run), "said nothing", WHERE)
                    .await
            }
            Mention::Question(question) => self.ask(&m, &run, &question).await,
            Mention::Ignore(which) => self.ignore(&m, &run, &which).await,
        }
    }

    /// Records `question` for the answerer, unless the asker has asked their hour's share.
    async fn ask(
        &self,
        m: &Mentioned<'_>,
        run: &RunRecord,
        question: &str,
    ) -> Result<(), StoreError> {
        if let Some(next) = self.next_question_at(m.user).await? {
            let most = self.reviews_per_hour;
            let text = format!(
                "You have asked {most} questions in the last hour, the most one person may \
                 (REVIEW_RATE_PER_USER_PER_HOUR). The next is possible at {} UTC.",
                next.format("%H:%M")
            );
            return self
                .refuse_mention(m, Some(run), "over the hourly limit", &text)
                .await;
        }
        let record = NewQuestion {
            key: m.key,
            run_id: run.id,
            kind: QuestionKind::Question,
            asked_by: m.user,
            text: question,
        };
        let audit = AuditEntry::new(Some(run.id), m.user, "asked", cut(question, 300)).via("Slack");
        if self
            .store
            .record_question(&record, None, &audit, None, self.clock.now())
            .await?
        {
            self.wakers.questions.notify_one();
        }
        Ok(())
    }

    /// When `user` may ask again, if they have asked their hour's share of questions.
    async fn next_question_at(&self, user: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = self.clock.now();
        let asked = self
            .store
            .questions_asked_since(user, now - TimeDelta::hours(1))
            .await?;
        Ok(super::next_allowed(&asked, self.reviews_per_hour))
    }

    /// Marks the card's finding named by `which` won't fix for the PR: kept out of later
    /// reviews, its thread closed by the answerer, said in the card's thread, audited.
    async fn ignore(
        &self,
        m: &Mentioned<'_>,
        run: &RunRecord,
        which: &str,
    ) -> Result<(), StoreError> {
        let state = (run.kind == RunKind::PR)
            .then(|| serde_json::from_value::<PrRun>(run.state.clone()).ok())
            .flatten();
        let (Some(pr), Some(review)) = (
            state.as_ref().and_then(|s| s.pr.as_ref()),
            state.as_ref().and_then(|s| s.review.as_ref()),
        ) else {
            let text = "There is no review on this card to ignore a finding of.";
            return self.refuse_mention(m, Some(run), "no review", text).await;
        };
        let finding = match choose(&review.found, which) {
            Ok(finding) => finding,
            Err(text) => {
                return self
                    .refuse_mention(m, Some(run), "no such finding", &text)
                    .await;
            }
        };
        let rule = self.policy.rule(run.repo.as_ref(), &Decides::Merge);
        if let Err(rejection) = self
            .one_of(m.user, rule.deciders, "ignoring findings".into())
            .await
        {
            let detail = format!("ignoring {} refused: {}", finding.title, rejection.code());
            let audit =
                AuditEntry::new(Some(run.id), m.user, "ignore_refused", detail).via("Slack");
            let note = OutboxItem::ephemeral(m.channel, m.user, rejection.explain());
            return self.finish_refused(m.key, &audit, &note).await;
        }
        let record = NewQuestion {
            key: m.key,
            run_id: run.id,
            kind: QuestionKind::Ignore,
            asked_by: m.user,
            text: &finding.fingerprint,
        };
        let dismissal = Dismissal {
            repo: &pr.repo,
            pr_id: pr.id,
            fingerprint: &finding.fingerprint,
            title: &finding.title,
            by: m.user,
        };
        let detail = format!(
            "ignored on {} PR {}: {} ({}:{}, fingerprint {})",
            pr.repo, pr.id, finding.title, finding.file, finding.line, finding.fingerprint
        );
        let audit = AuditEntry::new(Some(run.id), m.user, "finding_ignored", detail).via("Slack");
        let said = Message::new([Line::new()
            .user(m.user)
            .plain(" marked won't fix for this PR: ")
            .bold(finding.title.clone())
            .plain(format!(
                " ({}:{}). Later reviews of the PR leave it out, and its thread in Azure DevOps \
                 is closed as won't fix.",
                finding.file, finding.line
            ))]);
        let note = OutboxItem::thread_reply(run.id, &run.channel_id, said);
        if self
            .store
            .record_question(
                &record,
                Some(&dismissal),
                &audit,
                Some(&note),
                self.clock.now(),
            )
            .await?
        {
            self.wakers.questions.notify_one();
            self.wakers.outbound.notify_one();
        }
        Ok(())
    }

    /// Answers a mention that asks nothing the bot does, only to its author, and audits it.
    async fn refuse_mention(
        &self,
        m: &Mentioned<'_>,
        run: Option<&RunRecord>,
        why: &str,
        text: &str,
    ) -> Result<(), StoreError> {
        let detail = format!("mention not taken: {why}");
        let audit =
            AuditEntry::new(run.map(|r| r.id), m.user, "mention_refused", detail).via("Slack");
        let note = OutboxItem::ephemeral(m.channel, m.user, Message::new([Line::from(text)]));
        self.finish_refused(m.key, &audit, &note).await
    }

    async fn finish_refused(
        &self,
        key: &str,
        audit: &AuditEntry,
        note: &OutboxItem,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        if self
            .store
            .refuse_delivery(Some(key), audit, Some(note), now)
            .await?
        {
            self.wakers.outbound.notify_one();
        }
        Ok(())
    }
}

/// The one finding `which` names: by the start of its fingerprint, or by words of its title
/// (any case). Otherwise what to tell the asker, with the findings they may name.
fn choose<'a>(found: &'a [KeptFinding], which: &str) -> Result<&'a KeptFinding, String> {
    let wanted = which
        .trim()
        .trim_matches(['"', '“', '”', '`'])
        .to_lowercase();
    let listed = || {
        found
            .iter()
            .map(|f| format!("• {} ({}:{})", f.title, f.file, f.line))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if found.is_empty() {
        return Err("This review has no findings to ignore.".into());
    }
    if wanted.is_empty() {
        return Err(format!(
            "Say which finding: `ignore <words of its title>`. This review's findings:\n{}",
            listed()
        ));
    }
    let by_print: Vec<&KeptFinding> = found
        .iter()
        .filter(|f| wanted.len() >= 6 && f.fingerprint.starts_with(&wanted))
        .collect();
    let matching = if by_print.is_empty() {
        found
            .iter()
            .filter(|f| f.title.to_lowercase().contains(&wanted))
            .collect()
    } else {
        by_print
    };
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "No finding of this review is called \"{which}\". Its findings:\n{}",
            listed()
        )),
        several => Err(format!(
            "\"{which}\" names {} findings; say more of the title. This review's findings:\n{}",
            several.len(),
            listed()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reviewer::Severity;

    fn kept(print: &str, title: &str) -> KeptFinding {
        KeptFinding {
            fingerprint: print.into(),
            severity: Severity::Major,
            title: title.into(),
            file: "src/a.rs".into(),
            line: 3,
        }
    }

    #[test]
    fn a_finding_is_named_by_its_title_or_fingerprint() {
        let found = [
            kept("a1b2c3d4e5f60708", "SQL built from input"),
            kept("ffeeddccbbaa9988", "Unchecked unwrap in the parser"),
        ];
        assert_eq!(
            choose(&found, "sql BUILT").unwrap().title,
            "SQL built from input"
        );
        assert_eq!(
            choose(&found, "\"unchecked unwrap\"").unwrap().fingerprint,
            "ffeeddccbbaa9988"
        );
        assert_eq!(
            choose(&found, "a1b2c3").unwrap().title,
            "SQL built from input"
        );
        let several = choose(&found, "in").unwrap_err();
        assert!(several.contains("names 2 findings"), "{several}");
        let none = choose(&found, "race").unwrap_err();
        assert!(
            none.contains("• Unchecked unwrap in the parser (src/a.rs:3)"),
            "{none}"
        );
        assert!(
            choose(&found, "")
                .unwrap_err()
                .starts_with("Say which finding")
        );
        assert!(choose(&[], "sql").is_err());
    }
}
