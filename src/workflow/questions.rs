//! Mentions of the bot in a run card's thread ("@release-agent why is this major?"), after the
//! intake recorded them (`intake/mention.rs`): the answerer claims each one under a lease and
//! hands it to the run's flow (`Flow::follow_up`), which asks the reviewer on the reviewed
//! commit's worktree, or closes an ignored finding's thread. The claim is renewed while the
//! reviewer works, so the question of a worker that died is taken again within a lease. The
//! answer goes to the card's thread in the same write that marks the question answered, so a
//! question is answered once, whichever replica took it and however often it was delivered.

use std::time::Duration;

use chrono::TimeDelta;
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::pr::view::cut;
use super::{Answered, Asked, Engine, StepError};
use crate::domain::{Line, Message, RunId};
use crate::store::{OutboxItem, QuestionKind, QuestionRecord, ReviewSpend, StoreError};

/// Questions answered at once by one process (the reviewer has its own limit too).
const BATCH: i64 = 4;
/// Tries before a question that keeps failing for passing reasons is answered with the failure.
const TRIES: i64 = 3;

/// What a mention of the bot says, once the mention itself is taken off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mention {
    /// Nothing but the mention.
    Empty,
    /// `ignore <which finding>`.
    Ignore(String),
    Question(String),
}

impl Mention {
    /// Reads the text of an `app_mention` event: leading user mentions (`<@U123>`) go.
    pub fn parse(text: &str) -> Self {
        let mut rest = text.trim();
        while let Some(after) = rest.strip_prefix("<@") {
            match after.find('>') {
                Some(end) => rest = after[end + 1..].trim_start(),
                None => break,
            }
        }
        let rest = rest.trim();
        let mut words = rest.splitn(2, char::is_whitespace);
        match words.next() {
            None | Some("") => Self::Empty,
            Some(first) if first.eq_ignore_ascii_case("ignore") => {
                Self::Ignore(words.next().unwrap_or_default().trim().to_owned())
            }
            Some(_) => Self::Question(rest.to_owned()),
        }
    }
}

/// Answers recorded questions until stopped.
pub struct Answerer {
    engine: Engine,
    owner: String,
}

impl Answerer {
    pub fn new(engine: Engine) -> Self {
        Self {
            owner: format!("answerer-{}", engine.instance()),
            engine,
        }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let done = match self.pass().await {
                Ok(done) => done,
                Err(e) => {
                    warn!(error = %e, "cannot claim questions");
                    0
                }
            };
            if done > 0 {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.engine.wakers().questions.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Claims the questions that are due and answers them together; returns how many it took.
    async fn pass(&self) -> Result<usize, StoreError> {
        let now = self.engine.now();
        let store = self.engine.store();
        let claimed = store
            .claim_questions(&self.owner, now, now + self.lease(), BATCH)
            .await?;
        let count = claimed.len();
        for outcome in join_all(claimed.into_iter().map(|q| self.answer(q))).await {
            if let Err(e) = outcome {
                warn!(error = %e, "cannot record an answer; the question will be taken again");
            }
        }
        Ok(count)
    }

    async fn answer(&self, question: QuestionRecord) -> Result<(), StoreError> {
        let store = self.engine.store();
        let run = match RunId::parse(&question.run_id) {
            Some(id) => store.get_run(id).await?,
            None => None,
        };
        let Some(run) = run else {
            store
                .answer_question(&question.key, None, self.engine.now())
                .await?;
            return Ok(());
        };
        let asked = match question.kind() {
            QuestionKind::Question => Asked::Question(question.text.clone()),
            QuestionKind::Ignore => Asked::CloseThread {
                fingerprint: question.text.clone(),
                by: question.asked_by.clone(),
            },
        };
        let follow_up = self.engine.flows().follow_up(&run.kind, &run.state, &asked);
        let outcome = self.renewing(&question.key, follow_up).await;
        let now = self.engine.now();
        let (text, failed) = match outcome {
            Some(Ok(answered)) => {
                self.record_spend(&question, &run, &answered).await?;
                (answered.text, false)
            }
            Some(Err(StepError::Transient { reason, .. })) if question.attempts + 1 < TRIES => {
                info!(key = %question.key, %reason, "a question waits to be tried again");
                let backoff = TimeDelta::seconds(5 << question.attempts);
                return store.retry_question(&question.key, now + backoff).await;
            }
            Some(Err(e)) => (format!("I could not answer this: {e}"), true),
            None => (
                "I answer questions about reviews, in the thread of a PR's card.".to_owned(),
                false,
            ),
        };
        // An ignore was answered when it was recorded; closing its thread says nothing more
        // unless it failed.
        let reply = (question.kind() == QuestionKind::Question || failed).then(|| {
            OutboxItem::thread_reply(run.id, &run.channel_id, answer_message(&question, &text))
        });
        if store
            .answer_question(&question.key, reply.as_ref(), now)
            .await?
            && reply.is_some()
        {
            self.engine.wakers().outbound.notify_one();
        }
        Ok(())
    }

    /// A claim's length: the engine's lease (RUN_LEASE_SECONDS), renewed while the answer is
    /// worked on, so a dead worker's questions are taken again soon after.
    fn lease(&self) -> TimeDelta {
        TimeDelta::from_std(self.engine.lease()).unwrap_or(TimeDelta::seconds(30))
    }

    /// Runs `work`, renewing the claim on `key` every third of the lease: a reviewer may take
    /// minutes, and another worker must not take the question meanwhile.
    async fn renewing<T>(&self, key: &str, work: impl Future<Output = T>) -> T {
        let third = (self.engine.lease() / 3).max(Duration::from_millis(100));
        let mut every = tokio::time::interval(third);
        every.tick().await;
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = every.tick() => {
                    let until = self.engine.now() + self.lease();
                    let renewed = self.engine.store().renew_question(key, &self.owner, until);
                    if let Err(e) = renewed.await {
                        warn!(error = %e, key, "cannot renew the claim on a question");
                    }
                }
            }
        }
    }

    /// Counts what asking the reviewer cost toward the month's review spend.
    async fn record_spend(
        &self,
        question: &QuestionRecord,
        run: &crate::store::RunRecord,
        answered: &Answered,
    ) -> Result<(), StoreError> {
        let (Some(repo), Some(pr)) = (&run.repo, run.pr_id) else {
            return Ok(());
        };
        if answered.cost_usd.is_none() && answered.tokens.is_none() {
            return Ok(());
        }
        let source = format!("question:{}", question.key);
        let spend = ReviewSpend {
            run_id: run.id,
            source: &source,
            cost_usd: answered.cost_usd,
            tokens: answered.tokens,
        };
        let pr = u32::try_from(pr).unwrap_or_default();
        let store = self.engine.store();
        store
            .record_spend(&spend, repo, pr, self.engine.now())
            .await
    }
}

/// The reply in the card's thread: who asked what, then the answer. Both are shown as text,
/// never as markup: the question is a person's, the answer the model's.
fn answer_message(question: &QuestionRecord, answer: &str) -> Message {
    let asked = match question.kind() {
        QuestionKind::Question => question.text.as_str(),
        QuestionKind::Ignore => "ignore",
    };
    let mut lines = vec![
        Line::new()
            .user(&question.asked_by)
            .plain(" asked: ")
            .plain(cut(asked, 300)),
    ];
    lines.extend(answer.lines().map(|l| Line::new().plain(l)));
    Message::new(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mention_is_read_without_the_mention() {
        assert_eq!(
            Mention::parse("<@U0BOT> why is this major?"),
            Mention::Question("why is this major?".into())
        );
        assert_eq!(
            Mention::parse("<@U0BOT>  IGNORE  SQL built from input "),
            Mention::Ignore("SQL built from input".into())
        );
        assert_eq!(
            Mention::parse("<@U0BOT> ignore"),
            Mention::Ignore(String::new())
        );
        assert_eq!(Mention::parse(" <@U0BOT> "), Mention::Empty);
        assert_eq!(
            Mention::parse("<@U0BOT> ignored files? <@U2>"),
            Mention::Question("ignored files? <@U2>".into())
        );
    }
}
