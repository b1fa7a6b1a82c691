//! The PR workflow end to end: Socket Mode in, a fake Azure DevOps and Jira, real git repositories
//! and the stand-in reviewer.

use release_agent::domain::{RunId, RunStatus, Version};
use release_agent::store::RunRecord;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::fake_azdo::{BuildPlan, FakeAzdo, FakePr};
use crate::support::fake_jira::FakeJira;
use crate::support::releases::released_on;
use crate::support::repo::Repo;
use crate::support::{Backend, FakeSlack, TestApp, TestDb, pr_env, wait_until};

pub const APPROVE_WITH_FINDING: &str = r#"{"verdict":"approve","summary":"Solid change.","findings":[{"file":"src/login.rs","line":2,"severity":"minor","title":"Name the constant","body":"Use a named constant for the timeout."}]}"#;
pub const REQUEST_CHANGES: &str = r#"{"verdict":"request_changes","summary":"The login accepts any password.","findings":[{"file":"src/login.rs","line":1,"severity":"critical","title":"No password check","body":"Every password is accepted."},{"file":"README.md","line":1,"severity":"minor","title":"Docs","body":"Mention the login page."}]}"#;

pub struct World {
    pub app: TestApp,
    pub azdo: FakeAzdo,
    pub jira: FakeJira,
    pub repo: Repo,
}

pub async fn world(backend: Backend, extra: &[(&str, &str)]) -> Option<World> {
    world_on(backend, extra, FakeAzdo::start().await).await
}

/// [`world`] with an Azure DevOps the test prepared before the bot starts.
pub async fn world_on(backend: Backend, extra: &[(&str, &str)], azdo: FakeAzdo) -> Option<World> {
    let fakes = (azdo, FakeJira::start().await, FakeSlack::start().await);
    world_of(backend, extra, fakes).await
}

/// [`world`] with every fake prepared by the test (a proxy in front of them, say).
pub async fn world_of(
    backend: Backend,
    extra: &[(&str, &str)],
    (azdo, jira, slack): (FakeAzdo, FakeJira, std::sync::Arc<FakeSlack>),
) -> Option<World> {
    let db = TestDb::create(backend).await?;
    Some(world_in(db, extra, (azdo, jira, slack)).await)
}

/// [`world_of`] on a database the test made (on a server of its own, say).
pub async fn world_in(
    db: TestDb,
    extra: &[(&str, &str)],
    (azdo, jira, slack): (FakeAzdo, FakeJira, std::sync::Arc<FakeSlack>),
) -> World {
    let repo = Repo::new();
    let env = pr_env(&azdo, &jira, &repo);
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.extend_from_slice(extra);
    // Boxed: starting the app is a large future, and every world awaits it.
    let app = Box::pin(TestApp::spawn_with_slack(db, &vars, slack)).await;
    World {
        app,
        azdo,
        jira,
        repo,
    }
}

/// The ts of the message a Slack permalink in `text` points at (`…/p1796611068703239` is
/// `1796611068.703239`).
fn linked_card(text: &str) -> Option<String> {
    let digits: String = text
        .split("/p")
        .nth(1)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (digits.len() > 6).then(|| {
        format!(
            "{}.{}",
            &digits[..digits.len() - 6],
            &digits[digits.len() - 6..]
        )
    })
}

impl World {
    pub fn open_pr(&self, id: u32, branch: &str, commit: &str) {
        self.azdo
            .add_pr(FakePr::open(id, "Login page", branch, commit));
    }

    /// PR 12 from `feature/ALLPOST-4028_login`, whose ticket is in progress; returns its commit.
    pub fn ticketed_pr(&self) -> String {
        self.jira
            .add_issue("ALLPOST-4028", "Login page", "In Progress");
        let commit = self
            .repo
            .branch("feature/ALLPOST-4028_login", APPROVE_WITH_FINDING, None);
        self.open_pr(12, "feature/ALLPOST-4028_login", &commit);
        commit
    }

    /// `/review text` through Socket Mode; returns the ack's text and the run that took the
    /// request after the ack: the one it started, or the one under way it was pointed to (a
    /// poller's run for the same PR, say).
    pub async fn review(&self, text: &str) -> (String, RunId) {
        self.review_as(text, "U0ADA").await
    }

    /// [`Self::review`] asked by `user`.
    pub async fn review_as(&self, text: &str, user: &str) -> (String, RunId) {
        let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let before = ids(self.app.store.recent_runs(50).await.unwrap());
        let ack = self.app.slack.slash("/review", text, user).await;
        let answer = ack["payload"]["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let run = wait_until(&format!("a run to take the request {answer:?}"), || async {
            let runs = self.app.store.recent_runs(50).await.unwrap();
            if let Some(new) = runs
                .iter()
                .find(|r| r.started_by == user && !before.contains(&r.id))
            {
                return Some(new.id);
            }
            // A run under way when the request came (the poller's, say) is named in the ack
            // itself by its card's link; one found later by the intake is in the audit.
            if let Some(card) = linked_card(&answer)
                && let Some(run) = runs.iter().find(|r| r.card_ts.as_deref() == Some(&card))
            {
                return Some(run.id);
            }
            let audit = self.app.store.audit_for_runs(&ids(runs)).await.unwrap();
            let pointed = audit
                .into_iter()
                .rev()
                .find(|a| a.action == "request_refused" && a.actor == user)?;
            RunId::parse(&pointed.run_id?)
        })
        .await;
        (answer, run)
    }

    /// Waits for a run about PR `pr` other than `except` (started by the poller, say).
    pub async fn run_for(&self, pr: i64, except: &[RunId]) -> RunId {
        wait_until("a run for the PR", || async {
            let runs = self.app.store.recent_runs(10).await.unwrap();
            runs.into_iter()
                .find(|r| r.pr_id == Some(pr) && !except.contains(&r.id))
                .map(|r| r.id)
        })
        .await
    }

    /// The runs about PR `pr` so far.
    pub async fn runs_for(&self, pr: i64) -> Vec<RunId> {
        let runs = self.app.store.recent_runs(50).await.unwrap();
        runs.into_iter()
            .filter(|r| r.pr_id == Some(pr))
            .map(|r| r.id)
            .collect()
    }

    /// Presses `option` on the run's pending approval and waits until the decision counts.
    pub async fn press(&self, run: RunId, option: &str) {
        self.press_as(run, option, "U0ADA").await;
    }

    /// [`Self::press`] by `user`.
    pub async fn press_as(&self, run: RunId, option: &str, user: &str) {
        let before = self.app.run(run).await.seq;
        let id = self.app.press(run, option, user).await;
        self.app.slack.ack(&id).await;
        self.app
            .wait_for_run(run, "the decision to count", |r| r.seq > before)
            .await;
    }

    pub async fn waits_at(&self, run: RunId, step: &str) {
        let what = format!("the run to wait at {step}");
        self.app
            .wait_for_run(run, &what, |r| {
                r.status == RunStatus::Waiting && r.step == step
            })
            .await;
    }

    /// The text of the `n`-th note (ephemeral or through a response_url) to `user`, once sent.
    pub async fn note_to(&self, user: &str, n: usize) -> String {
        wait_until(&format!("note {n} to {user}"), || async {
            let notes: Vec<_> = self
                .app
                .slack
                .notes()
                .into_iter()
                .filter(|note| note.user == user)
                .collect();
            notes.get(n).map(|note| blocks_text(&note.body))
        })
        .await
    }

    /// The texts of the replies in the run's thread.
    pub async fn replies(&self, run: RunId) -> Vec<String> {
        self.app.settled(run).await;
        let ts = self.app.run(run).await.card_ts.unwrap();
        self.app
            .slack
            .calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body["thread_ts"] == ts.as_str())
            .map(|c| blocks_text(&c.body))
            .collect()
    }

    /// The text of the run's card as it is now on screen, with its buttons' labels.
    pub async fn card(&self, run: RunId) -> String {
        self.app.settled(run).await;
        let ts = self.app.run(run).await.card_ts.unwrap();
        let card = self.app.slack.card(&ts).expect("the card was sent");
        let buttons: Vec<String> = card["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["text"]["text"].as_str().map(|t| format!("[{t}]")))
            .collect();
        format!("{}\n{}", blocks_text(&card), buttons.join(" "))
    }
}

pub fn blocks_text(body: &Value) -> String {
    body["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["text"]["text"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn released(app: &TestApp, version: Version) {
    released_on(&app.store, version, app.clock.now()).await;
}

/// A branch that names another team's ticket moves only tickets of the configured projects, and
/// the card says which keys it left alone.
async fn a_branch_moves_only_tickets_of_the_configured_projects(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    w.jira
        .add_issue("ALLPOST-4028", "Login page", "In Progress");
    w.jira.add_issue("OTHER-1", "Their work", "In Progress");
    let branch = "feature/OTHER-1_ALLPOST-4028_login";
    let commit = w.repo.branch(branch, APPROVE_WITH_FINDING, None);
    w.open_pr(12, branch, &commit);
    let (_, run) = w.review("Billo.Api#12").await;
    w.waits_at(run, "ask_merge").await;
    assert_eq!(w.jira.status("ALLPOST-4028"), "Code Review");
    assert_eq!(w.jira.status("OTHER-1"), "In Progress", "not ours to move");
    let card = w.card(run).await;
    assert!(
        card.contains(
            "Ticket keys in the branch name left alone: OTHER-1. Only keys of ALLPOST count"
        ),
        "{card}"
    );
    w.app.finish().await;
}

async fn a_ticketed_pr_is_reviewed_merged_moved_staged_and_built(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    released(&w.app, Version::new(1, 4, 2)).await;
    let commit = w.ticketed_pr();

    let (ack, run) = w.review("Billo.Api#12").await;
    assert_eq!(
        ack,
        "Reviewing Billo.Api#12. Follow it on its card in <#C0RELEASES>."
    );
    w.waits_at(run, "ask_merge").await;
    assert_eq!(w.jira.status("ALLPOST-4028"), "Code Review");
    let threads = w.azdo.with(|s| s.threads.clone());
    assert_eq!(threads.len(), 2, "a summary thread and one inline finding");
    assert!(
        threads[0].1["comments"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("## AI review: Approve")
    );
    assert_eq!(threads[1].1["threadContext"]["filePath"], "/src/login.rs");
    assert_eq!(threads[1].1["threadContext"]["rightFileStart"]["line"], 2);
    assert_eq!(
        w.azdo.with(|s| s.votes.clone()),
        [],
        "REVIEW_VOTE is unset: the AI advises, it does not vote"
    );
    let replies = w.replies(run).await;
    assert!(
        replies[0].contains(&format!("*AI review of {}: approve*", &commit[..8])),
        "{replies:?}"
    );
    assert!(
        replies[0].contains("src/login.rs:2") && replies[0].contains("*Name the constant*"),
        "{replies:?}"
    );

    w.press(run, "merge").await;
    w.waits_at(run, "ask_ci").await;
    assert_eq!(
        w.azdo.with(|s| s.completions.clone()),
        [(12, commit.clone())],
        "merged once, at the reviewed commit"
    );
    assert_eq!(w.jira.status("ALLPOST-4028"), "Ready for QA");
    let staged = w.app.store.staging("Billo.Api").await.unwrap().unwrap();
    assert_eq!(staged.version, Version::new(1, 4, 3));
    assert_eq!(
        (
            staged.tickets,
            staged.prs.iter().map(|p| p.id).collect::<Vec<_>>()
        ),
        (vec!["ALLPOST-4028".to_owned()], vec![12])
    );

    w.press(run, "trigger").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done);
    let builds = w.azdo.with(|s| s.builds.clone());
    assert_eq!(builds.len(), 1);
    assert_eq!(
        (builds[0].branch.as_str(), builds[0].commit.as_deref()),
        ("develop", Some(format!("merge-{}", &commit[..8]).as_str()))
    );
    let replies = w.replies(run).await;
    assert!(
        replies
            .iter()
            .any(|r| r.contains("Counted in the staging release *Billo.Api 1.4.3*")),
        "{replies:?}"
    );
    assert!(
        replies.last().unwrap().contains("build 2026.900")
            && replies.last().unwrap().ends_with("succeeded"),
        "{replies:?}"
    );
    let card = w.card(run).await;
    assert!(
        card.contains(":white_check_mark: Billo.Api#12: Login page"),
        "{card}"
    );
    assert!(
        card.contains("Counted in the staging release *Billo.Api 1.4.3*")
            && card.contains("CI passed."),
        "{card}"
    );
    w.app.finish().await;
}

async fn a_ticketless_pr_gets_one_ticket_even_across_runs(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    let ticket =
        r#"{"summary":"Add the login page","description":"Users can log in with a password."}"#;
    let commit = w
        .repo
        .branch("chore/login", APPROVE_WITH_FINDING, Some(ticket));
    w.open_pr(13, "chore/login", &commit);
    let (_, first) = w.review("13").await;
    w.waits_at(first, "ask_merge").await;
    let created = w.jira.with(|s| s.created.clone());
    assert_eq!(created.len(), 1);
    let key = created[0].clone();
    let issue = w.jira.with(|s| s.issues[&key].clone());
    assert_eq!(issue.summary, "Add the login page");
    assert_eq!(
        issue.labels,
        ["release-agent", "release-agent-pr-billo-api-13"]
    );
    assert_eq!(issue.status, "Code Review");
    let card = w.card(first).await;
    assert!(
        card.contains(&format!(
            "Ticket: <{}/browse/{key}|{key}> Add the login page (created by the bot",
            w.jira.base_url()
        )),
        "{card}"
    );

    w.press(first, "cancel").await;
    let second_commit = w.repo.push("chore/login", APPROVE_WITH_FINDING);
    w.azdo.push(13, &second_commit);
    let (_, second) = w.review("Billo.Api#13").await;
    assert_ne!(first, second);
    w.waits_at(second, "ask_merge").await;
    assert_eq!(
        w.jira.with(|s| s.created.len()),
        1,
        "the second run found the ticket by its label"
    );
    let tickets: Vec<String> = w.app.store.get_run(second).await.unwrap().unwrap().state["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tickets, [key]);
    w.app.finish().await;
}

async fn a_review_that_requests_changes_ends_the_run(backend: Backend) {
    let Some(w) = world(backend, &[("REVIEW_VOTE", "suggestions")]).await else {
        return;
    };
    w.jira.add_issue("ALLPOST-7", "Login", "In Progress");
    let commit = w
        .repo
        .branch("feature/ALLPOST-7-login", REQUEST_CHANGES, None);
    w.open_pr(14, "feature/ALLPOST-7-login", &commit);
    let (_, run) = w.review("14").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done);
    assert_eq!(
        w.azdo.with(|s| s.votes.clone()),
        [(14, -5)],
        "waiting for the author"
    );
    let threads = w.azdo.with(|s| s.threads.clone());
    assert_eq!(
        threads.len(),
        2,
        "the summary (with the README finding) and the inline finding on src/login.rs:1"
    );
    assert!(
        threads[0].1["comments"][0]["content"]
            .as_str()
            .unwrap()
            .contains("**Minor** `README.md:1`")
    );
    assert!(
        w.azdo.with(|s| s.completions.is_empty()),
        "nothing was merged"
    );
    assert!(
        w.app.store.approvals_for_run(run).await.unwrap().is_empty(),
        "no merge was offered"
    );
    let card = w.card(run).await;
    assert!(
        card.contains(":warning: changes requested")
            && card.contains("The AI review asks for changes"),
        "{card}"
    );
    w.app.finish().await;
}

/// Two `/review` of one commit lead to one reviewer run: the second run shows the first review
/// and offers Review again, which reviews afresh and is audited.
async fn a_commit_is_reviewed_once_across_runs_unless_asked_again(backend: Backend) {
    use crate::http::{Auth, HTTP_VARS, WEBHOOK_SECRET, post, pr_event};
    let Some(w) = world(backend, &HTTP_VARS).await else {
        return;
    };
    w.jira.add_issue("ALLPOST-9", "Login", "In Progress");
    let commit = w.repo.branch("feature/ALLPOST-9", REQUEST_CHANGES, None);
    w.open_pr(16, "feature/ALLPOST-9", &commit);
    let (_, first) = w.review("16").await;
    assert_eq!(w.app.finished(first).await.status, RunStatus::Done);
    assert_eq!(w.azdo.with(|s| s.threads.len()), 2, "one review's threads");
    // Azure DevOps tells of the same commit: reviewed already, so it starts nothing.
    let hook = pr_event("git.pullrequest.updated", 16, "active", &commit);
    let hook = post(&w, "/webhooks/azdo", Auth::Webhook(WEBHOOK_SECRET), hook).await;
    assert_eq!(hook.body["outcome"], "duplicate", "{}", hook.text);
    assert_eq!(w.app.store.recent_runs(10).await.unwrap().len(), 1);

    let (_, second) = w.review("16").await;
    assert_ne!(first, second);
    w.waits_at(second, "reviewed").await;
    assert_eq!(
        w.azdo.with(|s| s.threads.len()),
        2,
        "the reviewer did not run again"
    );
    let card = w.card(second).await;
    assert!(card.contains("This commit was reviewed already"), "{card}");
    assert!(
        card.ends_with("[Review again] [Cancel]"),
        "no Merge on a review that asked for changes: {card}"
    );
    let replies = w.replies(second).await;
    assert!(
        replies.iter().any(
            |r| r.contains("(done before, not repeated): changes requested")
                && r.contains("The login accepts any password.")
        ),
        "{replies:?}"
    );

    w.press(second, "review-again").await;
    assert_eq!(w.app.finished(second).await.status, RunStatus::Done);
    assert_eq!(
        w.azdo.with(|s| s.threads.len()),
        3,
        "a fresh review posted its summary; its finding has an open thread, not posted twice"
    );
    let asked = crate::decisions::audit_of(&w.app, second, "decision").await;
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].actor, "U0ADA");
    assert!(asked[0].detail.contains("review-again"), "{:?}", asked[0]);
    w.app.finish().await;
}

/// `/review` typed in a DM, where the bot cannot post (chat.postEphemeral answers
/// `channel_not_found` there): the run's card goes to the channel, and what the bot has to say
/// after the ack reaches the asker through the command's response_url, in the DM.
async fn a_review_asked_in_a_dm_is_answered_there_through_the_response_url(backend: Backend) {
    let Some(w) = world(backend, &[("REVIEW_RATE_PER_USER_PER_HOUR", "1")]).await else {
        return;
    };
    w.ticketed_pr();
    let commit = w.repo.branch("feature/ALLPOST-31", REQUEST_CHANGES, None);
    w.open_pr(31, "feature/ALLPOST-31", &commit);
    let ack = w
        .app
        .slack
        .slash_in("D0DM", "/review", "Billo.Api#12", "U0ADA")
        .await;
    assert_eq!(
        ack["payload"]["blocks"][0]["text"]["text"],
        "Reviewing Billo.Api#12. Follow it on its card in <#C0RELEASES>."
    );
    let run = w.run_for(12, &[]).await;
    w.waits_at(run, "ask_merge").await;
    assert_eq!(w.app.run(run).await.channel_id, "C0RELEASES");

    w.app
        .slack
        .slash_in("D0DM", "/review", "Billo.Api#31", "U0ADA")
        .await;
    let note = wait_until("the asker is told in the DM", || async {
        w.app.slack.notes().into_iter().next()
    })
    .await;
    assert_eq!(
        (note.via, note.channel.as_str(), note.user.as_str()),
        ("response_url", "D0DM", "U0ADA")
    );
    assert!(
        blocks_text(&note.body).starts_with("You have asked for 1 reviews in the last hour"),
        "{}",
        note.body
    );
    assert_eq!(note.body["response_type"], "ephemeral");
    assert_eq!(note.body["replace_original"], false);
    assert!(
        w.app.slack.calls("chat.postEphemeral").is_empty(),
        "not tried where it cannot work"
    );
    w.app.finish().await;
}

/// REVIEW_RATE_PER_USER_PER_HOUR=2: a third `/review` within the hour starts nothing, and the
/// asker learns when the next is possible; someone else may still ask.
async fn reviews_are_limited_per_person_and_hour(backend: Backend) {
    let Some(w) = world(backend, &[("REVIEW_RATE_PER_USER_PER_HOUR", "2")]).await else {
        return;
    };
    for (pr, branch) in [(21, "feature/ALLPOST-21"), (22, "feature/ALLPOST-22")] {
        let commit = w.repo.branch(branch, REQUEST_CHANGES, None);
        w.open_pr(pr, branch, &commit);
    }
    let (_, first) = w.review("21").await;
    w.app.finished(first).await;
    let (_, second) = w.review("21").await;
    w.waits_at(second, "reviewed").await;

    let asked_at = w
        .app
        .store
        .get_run(first)
        .await
        .unwrap()
        .unwrap()
        .created_at;
    w.app.slack.slash("/review", "22", "U0ADA").await;
    let told = wait_until("the asker is told of the limit", || async {
        w.app
            .slack
            .notes()
            .into_iter()
            .map(|n| blocks_text(&n.body))
            .find(|t| t.starts_with("You have asked for 2 reviews"))
    })
    .await;
    let next = (asked_at + chrono::TimeDelta::hours(1)).format("%H:%M");
    assert_eq!(
        told,
        format!(
            "You have asked for 2 reviews in the last hour, the most one person may \
             (REVIEW_RATE_PER_USER_PER_HOUR). The next is possible at {next} UTC; PR 22 was not \
             reviewed."
        )
    );
    assert_eq!(w.app.store.recent_runs(10).await.unwrap().len(), 2);

    let (_, bobs) = w.review_as("22", "U0BOB").await;
    assert_eq!(w.app.finished(bobs).await.status, RunStatus::Done);
    w.app.finish().await;
}

async fn a_stale_merge_is_blocked_and_a_re_review_merges_the_new_commit(backend: Backend) {
    let Some(w) = world(backend, &[("CI_AUTO_TRIGGER", "true")]).await else {
        return;
    };
    w.jira.add_issue("ALLPOST-8", "Login", "In Progress");
    let reviewed = w
        .repo
        .branch("feature/ALLPOST-8", APPROVE_WITH_FINDING, None);
    w.open_pr(15, "feature/ALLPOST-8", &reviewed);
    let (_, run) = w.review("15").await;
    w.waits_at(run, "ask_merge").await;
    let pushed = w.repo.push("feature/ALLPOST-8", APPROVE_WITH_FINDING);
    w.azdo.push(15, &pushed);

    w.press(run, "merge").await;
    w.waits_at(run, "stale").await;
    assert_eq!(
        w.azdo.with(|s| s.completions.clone()),
        [(15, reviewed.clone())]
    );
    assert_eq!(
        w.azdo.with(|s| s.prs[&15].status.clone()),
        "active",
        "nothing was merged"
    );
    let card = w.card(run).await;
    assert!(
        card.contains("The PR moved after the review, so nothing was merged: TF401192"),
        "{card}"
    );
    assert!(card.ends_with("[Re-review] [Cancel]"), "{card}");

    w.press(run, "re-review").await;
    w.waits_at(run, "ask_merge").await;
    assert_eq!(
        w.azdo.with(|s| s.threads.len()),
        4,
        "the new commit got its own review threads"
    );
    w.press(run, "merge").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    assert_eq!(
        w.azdo.with(|s| s.completions.clone()),
        [(15, reviewed), (15, pushed)]
    );
    w.app.finish().await;
}

async fn cancelling_after_a_stale_merge_leaves_a_later_hand_merge_to_the_poller(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    w.jira.add_issue("ALLPOST-21", "Login", "In Progress");
    let reviewed = w
        .repo
        .branch("feature/ALLPOST-21", APPROVE_WITH_FINDING, None);
    w.open_pr(21, "feature/ALLPOST-21", &reviewed);
    let (_, run) = w.review("21").await;
    w.waits_at(run, "ask_merge").await;
    let pushed = w.repo.push("feature/ALLPOST-21", APPROVE_WITH_FINDING);
    w.azdo.push(21, &pushed);
    w.press(run, "merge").await;
    w.waits_at(run, "stale").await;
    w.press(run, "cancel").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Cancelled);
    let key = release_agent::store::NewDelivery {
        key: "pr:Billo.Api:21:merged".into(),
        source: "test".into(),
        intent: None,
    };
    assert!(
        w.app
            .store
            .remember_delivery(&key, w.app.clock.now())
            .await
            .unwrap(),
        "the bot's claim on the merge was released, so the poller would stage a merge by hand"
    );
    w.app.finish().await;
}

/// PR 16 reviewed and merged; its CI build ends with `result`. Returns the run.
pub async fn merged_with_build(w: &World, result: &'static str) -> RunId {
    w.azdo.plan_build(BuildPlan::Finish { polls: 1, result });
    let commit = w
        .repo
        .branch("feature/ALLPOST-9", APPROVE_WITH_FINDING, None);
    w.jira.add_issue("ALLPOST-9", "Login", "In Progress");
    w.open_pr(16, "feature/ALLPOST-9", &commit);
    let (_, run) = w.review("16").await;
    w.waits_at(run, "ask_merge").await;
    w.press(run, "merge").await;
    run
}

async fn a_failed_ci_build_is_shown(backend: Backend) {
    let Some(w) = world(backend, &[("CI_AUTO_TRIGGER", "true")]).await else {
        return;
    };
    let run = merged_with_build(&w, "failed").await;
    let failed = w.app.finished(run).await;
    assert_eq!(
        (failed.status, failed.outcome.as_deref()),
        (RunStatus::Failed, Some("CI build 2026.900 failed"))
    );
    let card = w.card(run).await;
    assert!(
        card.contains("*Failed* at `watch_build`: CI build 2026.900 failed"),
        "{card}"
    );
    assert!(w.replies(run).await.last().unwrap().ends_with("failed"));
    w.app.finish().await;
}

/// A build that partially succeeded passes only where REPOS_CONFIG says
/// `accept_partially_succeeded`; elsewhere it fails the run, as before.
async fn a_partially_succeeded_build_passes_where_the_repository_accepts_it(backend: Backend) {
    for (accept, expected) in [(true, RunStatus::Done), (false, RunStatus::Failed)] {
        let config = tempfile::NamedTempFile::new().unwrap();
        let text = format!("[repos.\"Billo.Api\"]\naccept_partially_succeeded = {accept}\n");
        std::fs::write(config.path(), text).unwrap();
        let path = config.path().display().to_string();
        let vars = [("CI_AUTO_TRIGGER", "true"), ("REPOS_CONFIG", path.as_str())];
        let Some(w) = world(backend, &vars).await else {
            return;
        };
        let run = merged_with_build(&w, "partiallySucceeded").await;
        assert_eq!(
            w.app.finished(run).await.status,
            expected,
            "accept = {accept}"
        );
        let last = w.replies(run).await.last().cloned().unwrap();
        assert!(last.ends_with("partially succeeded"), "{last}");
        w.app.finish().await;
    }
}

async fn a_ci_build_that_never_finishes_is_given_up(backend: Backend) {
    let vars = [
        ("CI_AUTO_TRIGGER", "true"),
        ("CI_POLL_MAX_WAIT_SECONDS", "2"),
    ];
    let Some(w) = world(backend, &vars).await else {
        return;
    };
    w.azdo.plan_build(BuildPlan::Never);
    let commit = w
        .repo
        .branch("feature/ALLPOST-10", APPROVE_WITH_FINDING, None);
    w.jira.add_issue("ALLPOST-10", "Login", "In Progress");
    w.open_pr(17, "feature/ALLPOST-10", &commit);
    let (_, run) = w.review("17").await;
    w.waits_at(run, "ask_merge").await;
    w.press(run, "merge").await;
    let failed = w.app.finished(run).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(
        failed.outcome.as_deref(),
        Some("CI build 2026.900 did not finish within 2 s; it is still running")
    );
    assert!(
        w.replies(run)
            .await
            .last()
            .unwrap()
            .ends_with("still running when the bot stopped waiting")
    );
    w.app.finish().await;
}

async fn the_poller_stages_a_pr_merged_outside_the_bot(backend: Backend) {
    let vars = [
        ("PR_POLL_ENABLED", "true"),
        ("PR_POLL_INTERVAL_SECONDS", "1"),
        ("CI_AUTO_TRIGGER", "true"),
    ];
    let Some(w) = world(backend, &vars).await else {
        return;
    };
    w.jira
        .add_issue("ALLPOST-11", "Merged by hand", "Code Review");
    let commit = w
        .repo
        .branch("feature/ALLPOST-11", APPROVE_WITH_FINDING, None);
    w.azdo.add_pr(FakePr {
        status: "completed".into(),
        merge_commit: Some("handmade-merge".into()),
        closed: Some("2099-01-01T00:00:00Z".into()),
        ..FakePr::open(18, "Merged by hand", "feature/ALLPOST-11", &commit)
    });
    let run = w.run_for(18, &[]).await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    assert_eq!(w.jira.status("ALLPOST-11"), "Ready for QA");
    let staged = w.app.store.staging("Billo.Api").await.unwrap().unwrap();
    assert_eq!(staged.prs.iter().map(|p| p.id).collect::<Vec<_>>(), [18]);
    assert!(
        w.azdo
            .with(|s| s.threads.is_empty() && s.completions.is_empty()),
        "no review, no merge"
    );
    assert_eq!(
        w.azdo.with(|s| s.builds[0].commit.clone()),
        Some("handmade-merge".into())
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let runs = w.app.store.recent_runs(10).await.unwrap();
    assert_eq!(
        runs.iter().filter(|r| r.pr_id == Some(18)).count(),
        1,
        "later polls do not start it again"
    );
    w.app.finish().await;
}

async fn one_failing_repository_does_not_stop_the_poller(backend: Backend) {
    let vars = [
        ("PR_POLL_ENABLED", "true"),
        ("PR_POLL_INTERVAL_SECONDS", "1"),
        ("WATCHED_REPOS", "Billo.Broken,Billo.Api"),
    ];
    let Some(w) = world(backend, &vars).await else {
        return;
    };
    w.azdo
        .state
        .lock()
        .unwrap()
        .broken
        .push("Billo.Broken".into());
    w.jira.add_issue("ALLPOST-20", "Login", "In Progress");
    let commit = w
        .repo
        .branch("feature/ALLPOST-20", APPROVE_WITH_FINDING, None);
    w.open_pr(20, "feature/ALLPOST-20", &commit);
    let run = w.run_for(20, &[]).await;
    w.waits_at(run, "ask_merge").await;
    w.app.finish().await;
}

/// A poll that sees the PR between a `/review` and that run's first read of the PR starts a run
/// of its own; whichever reads the PR first, the person's run goes on and the review runs once.
async fn a_poll_during_a_review_request_leaves_the_persons_run_be(backend: Backend) {
    let vars = [
        ("PR_POLL_ENABLED", "true"),
        ("PR_POLL_INTERVAL_SECONDS", "1"),
    ];
    let Some(w) = world(backend, &vars).await else {
        return;
    };
    w.jira.add_issue("ALLPOST-21", "Login", "In Progress");
    let commit = w
        .repo
        .branch("feature/ALLPOST-21", APPROVE_WITH_FINDING, None);
    // The poller cannot list the PR yet, and neither run can read it.
    w.azdo.with_mut(|s| {
        s.pr_reads_fail = true;
        s.broken.push("Billo.Api".into());
    });
    w.open_pr(21, "feature/ALLPOST-21", &commit);
    let (_, asked) = w.review("21").await;
    w.azdo.with_mut(|s| s.broken.clear());
    let polled = w.run_for(21, &[asked]).await;
    w.azdo.with_mut(|s| s.pr_reads_fail = false);
    w.waits_at(asked, "ask_merge").await;
    let ended = w.app.finished(polled).await;
    assert!(
        ended.step == "finished" || ended.status == RunStatus::Cancelled,
        "the poller's run ends: {ended:?}"
    );
    let summaries = w.azdo.with(|s| {
        s.threads
            .iter()
            .filter(|(pr, t)| {
                *pr == 21
                    && t["comments"][0]["content"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("## AI review"))
            })
            .count()
    });
    assert_eq!(summaries, 1, "one review of the commit");
    w.app.finish().await;
}

async fn a_second_push_supersedes_the_first_review(backend: Backend) {
    let vars = [
        ("PR_POLL_ENABLED", "true"),
        ("PR_POLL_INTERVAL_SECONDS", "1"),
    ];
    let Some(w) = world(backend, &vars).await else {
        return;
    };
    w.jira.add_issue("ALLPOST-12", "Login", "In Progress");
    let first_commit = w
        .repo
        .branch("feature/ALLPOST-12", APPROVE_WITH_FINDING, None);
    w.open_pr(19, "feature/ALLPOST-12", &first_commit);
    let first = w.run_for(19, &[]).await;
    w.waits_at(first, "ask_merge").await;
    let old_approval = w.app.pending_approval(first).await;

    let second_commit = w.repo.push("feature/ALLPOST-12", APPROVE_WITH_FINDING);
    w.azdo.push(19, &second_commit);
    let cancelled = w.app.finished(first).await;
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(
        cancelled.outcome,
        Some(format!(
            "superseded by a newer review of Billo.Api#19 at {}",
            &second_commit[..8]
        ))
    );
    let second = w.run_for(19, &[first]).await;
    w.waits_at(second, "ask_merge").await;
    let card = w.card(first).await;
    assert!(
        card.contains("*Cancelled:* superseded by a newer review"),
        "{card}"
    );
    assert!(
        card.ends_with('\n'),
        "the old card lost its buttons: {card}"
    );

    let click = w.app.click_envelope(&old_approval, "merge", "U0ADA").await;
    w.app.slack.deliver(click).await;
    let note = wait_until("the late click to be answered", || async {
        w.app.slack.notes().into_iter().next()
    })
    .await;
    assert!(
        note.body
            .to_string()
            .contains("This approval no longer applies"),
        "{}",
        note.body
    );
    assert!(
        w.azdo.with(|s| s.completions.is_empty()),
        "the old review's button merged nothing"
    );
    w.app.finish().await;
}

on_both_backends!(
    a_branch_moves_only_tickets_of_the_configured_projects,
    a_ticketed_pr_is_reviewed_merged_moved_staged_and_built,
    a_ticketless_pr_gets_one_ticket_even_across_runs,
    a_review_that_requests_changes_ends_the_run,
    a_commit_is_reviewed_once_across_runs_unless_asked_again,
    reviews_are_limited_per_person_and_hour,
    a_review_asked_in_a_dm_is_answered_there_through_the_response_url,
    a_stale_merge_is_blocked_and_a_re_review_merges_the_new_commit,
    cancelling_after_a_stale_merge_leaves_a_later_hand_merge_to_the_poller,
    a_failed_ci_build_is_shown,
    a_partially_succeeded_build_passes_where_the_repository_accepts_it,
    a_ci_build_that_never_finishes_is_given_up,
    the_poller_stages_a_pr_merged_outside_the_bot,
    one_failing_repository_does_not_stop_the_poller,
    a_second_push_supersedes_the_first_review,
    a_poll_during_a_review_request_leaves_the_persons_run_be,
);
