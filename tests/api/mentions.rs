//! Asking the reviewer in a card's thread, through Socket Mode `app_mention` events against the
//! fakes and the stand-in CLI: a question is answered once in the thread (also when Slack
//! delivers the event twice), held to the asker's hourly limit; `ignore <finding>` marks a
//! finding won't fix for the PR, closes its thread in Azure DevOps and keeps it out of later
//! reviews; a mention outside a card's thread is told where to ask.

use release_agent::domain::{RunId, RunStatus};
use serde_json::Value;

use crate::on_both_backends;
use crate::pr_flow::{World, world};
use crate::support::{Backend, wait_until};

const PR: u32 = 60;
const BRANCH: &str = "feature/ALLPOST-60";
const FINDING: &str = r#"{"verdict":"request_changes","summary":"One thing to fix.","findings":[{"file":"src/login.rs","line":2,"severity":"critical","title":"Check the password","body":"It is never compared."}]}"#;

/// A PR with one critical finding, reviewed: the run ends asking for changes.
async fn reviewed(w: &World, answer: &str) -> RunId {
    let commit = w.repo.change(
        BRANCH,
        &[
            ("src/login.rs", "let user = read();\nlet ok = true;\n"),
            (".fake-claude-answer.json", answer),
        ],
        "login",
    );
    w.open_pr(PR, BRANCH, &commit);
    let (_, run) = w.review(&PR.to_string()).await;
    let ended = w.app.finished(run).await;
    assert_eq!(ended.status, RunStatus::Done, "{:?}", ended.outcome);
    run
}

impl World {
    /// Mentions the bot as `user` in the thread of `run`'s card; returns the envelope.
    async fn mention(&self, run: RunId, user: &str, text: &str) -> Value {
        self.app.settled(run).await;
        let record = self.app.run(run).await;
        let ts = record.card_ts.expect("the card was sent");
        let envelope = self.app.slack.mention_envelope(
            user,
            &record.channel_id,
            Some(&ts),
            &format!("<@U0BOT> {text}"),
        );
        let id = self.app.slack.deliver(envelope.clone()).await;
        self.app.slack.ack(&id).await;
        envelope
    }

    /// The replies in `run`'s thread that contain `text`, once every question is answered.
    async fn replies_with(&self, run: RunId, text: &str) -> Vec<String> {
        // The intake has recorded every mention once nothing is pending.
        self.app.settled(run).await;
        wait_until("every question to be answered", || async {
            let open = self
                .app
                .db
                .count("SELECT COUNT(*) FROM questions WHERE answered_at IS NULL")
                .await;
            (open == 0).then_some(())
        })
        .await;
        let mut replies = self.replies(run).await;
        replies.retain(|r| r.contains(text));
        replies
    }
}

/// The inline threads of the finding "Check the password" on the PR.
fn password_threads(w: &World) -> Vec<Value> {
    w.azdo.with(|s| {
        s.threads
            .iter()
            .filter(|(pr, t)| {
                *pr == PR
                    && t["comments"][0]["content"]
                        .as_str()
                        .is_some_and(|c| c.contains("Check the password"))
                    && t.get("threadContext").is_some()
            })
            .map(|(_, t)| t.clone())
            .collect()
    })
}

async fn a_thread_mention_gets_one_answer_even_when_delivered_twice(backend: Backend) {
    let vars = [("REVIEW_RATE_PER_USER_PER_HOUR", "1")];
    let Some(w) = world(backend, &vars).await else {
        return;
    };
    let run = reviewed(&w, FINDING).await;
    let envelope = w.mention(run, "U0ASK", "why is this critical?").await;
    w.app.slack.redeliver(&envelope).await;

    let asked = w.replies_with(run, "why is this critical?").await;
    assert_eq!(asked.len(), 1, "one answer: {asked:?}");
    let answer = &asked[0];
    assert!(
        answer.contains("<@U0ASK> asked: why is this critical?")
            && answer.contains("You asked: why is this critical?"),
        "{answer}"
    );
    let commit = w.app.run(run).await.state["pr"]["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        answer.contains(&format!("The review: Review of commit {}", &commit[..8]))
            && answer.contains("Findings: 1. The PR diff: 2 files."),
        "the reviewer had the review and the PR's diff: {answer}"
    );
    let count = |sql: &'static str| w.app.db.count(sql);
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_log WHERE action = 'asked' AND actor = 'U0ASK'").await,
        1
    );

    // A second question within the hour is over REVIEW_RATE_PER_USER_PER_HOUR = 1.
    w.mention(run, "U0ASK", "and this one?").await;
    let refused = w.note_to("U0ASK", 0).await;
    assert!(
        refused.starts_with("You have asked 1 questions in the last hour"),
        "{refused}"
    );
    assert!(w.replies_with(run, "and this one?").await.is_empty());

    // Outside a card's thread, the asker is told where questions go.
    let channel = w.app.run(run).await.channel_id;
    let envelope = w
        .app
        .slack
        .mention_envelope("U0OUT", &channel, None, "<@U0BOT> what is this?");
    let id = w.app.slack.deliver(envelope).await;
    w.app.slack.ack(&id).await;
    let told = w.note_to("U0OUT", 0).await;
    assert!(
        told.starts_with("I answer in the thread of a run's card"),
        "{told}"
    );
    w.app.finish().await;
}

async fn ignore_marks_a_finding_wont_fix_for_the_pr(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    let run = reviewed(&w, FINDING).await;
    w.mention(run, "U0LEAD", "ignore race condition").await;
    let unknown = w.note_to("U0LEAD", 0).await;
    assert!(
        unknown.contains("No finding of this review is called \"race condition\"")
            && unknown.contains("Check the password (src/login.rs:2)"),
        "{unknown}"
    );

    w.mention(run, "U0LEAD", "ignore check the PASSWORD").await;
    let said = w.replies_with(run, "marked won't fix").await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("<@U0LEAD> marked won't fix for this PR: *Check the password*"),
        "{}",
        said[0]
    );
    let thread = wait_until("the finding's thread to be closed", || async {
        password_threads(&w)
            .into_iter()
            .find(|t| t["status"] == "wontFix")
    })
    .await;
    let note = thread["comments"][1]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(
        note.starts_with("Marked won't fix from Slack by Slack user U0LEAD"),
        "{note}"
    );
    let audited = w
        .app
        .store
        .audit_for_run(run)
        .await
        .unwrap()
        .into_iter()
        .any(|e| {
            e.action == "finding_ignored"
                && e.actor == "U0LEAD"
                && e.detail.contains("Check the password (src/login.rs:2")
        });
    assert!(audited, "the ignore is audited");

    // The next push's review raises it again; it stays out.
    let pushed = w
        .repo
        .change(BRANCH, &[("src/other.rs", "let o = 1;\n")], "more");
    w.azdo.push(PR, &pushed);
    let (_, again) = w.review(&PR.to_string()).await;
    w.app.finished(again).await;
    let card = w.card(again).await;
    assert!(card.contains("dismissed 1"), "{card}");
    assert_eq!(password_threads(&w).len(), 1, "not posted again");
    w.app.finish().await;
}

/// A second run on the same commit reuses the review; its card's thread knows the findings.
async fn ignore_works_in_the_thread_of_a_run_that_reused_the_review(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    reviewed(&w, FINDING).await;
    // It waits at the question about the earlier review.
    let (_, again) = w.review(&PR.to_string()).await;
    w.waits_at(again, "reviewed").await;
    w.mention(again, "U0LEAD", "ignore check the password")
        .await;
    let said = w.replies_with(again, "marked won't fix").await;
    assert_eq!(said.len(), 1, "{said:?}");
    wait_until("the finding's thread to be closed", || async {
        password_threads(&w)
            .into_iter()
            .find(|t| t["status"] == "wontFix")
    })
    .await;
    w.app.finish().await;
}

on_both_backends!(
    a_thread_mention_gets_one_answer_even_when_delivered_twice,
    ignore_marks_a_finding_wont_fix_for_the_pr,
    ignore_works_in_the_thread_of_a_run_that_reused_the_review,
);
