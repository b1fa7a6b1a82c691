//! Who may decide what, as users meet it through Socket Mode: the four-eyes rule (the requester
//! of a run and the author of a PR decide nothing of theirs), a policy per decision from
//! REPOS_CONFIG, and stages that need several people.

use release_agent::domain::{RunId, RunStatus};
use serde_json::json;

use reqwest::{Method, StatusCode};

use crate::decisions::{audit_of, notes_to, refusals};
use crate::http::{Auth, HTTP_VARS, OPERATOR_TOKEN, OPS_TOKEN, call, post};
use crate::on_both_backends;
use crate::pr_flow::{World, world};
use crate::release_flow::release_world;
use crate::support::{Backend, TestApp, wait_until};

/// Four eyes on, anyone may decide otherwise.
const FOUR_EYES: [(&str, &str); 2] = [
    ("SLACK_APPROVERS", "anyone"),
    ("ALLOW_SELF_APPROVAL", "false"),
];

/// A REPOS_CONFIG file in a directory that lives as long as the returned guard.
fn repos_config(toml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("repos.toml");
    std::fs::write(&file, toml).unwrap();
    let path = file.display().to_string();
    (dir, path)
}

impl World {
    /// `/release Billo.Api` asked by U0ADA; U0BOB creates and merges its release PR, up to
    /// the question about Sandbox.
    async fn release_asked_by_ada(&self) -> RunId {
        self.release_as("Billo.Api", "U0ADA").await;
        let run = self.release_run().await;
        self.waits_at(run, "ask_create").await;
        self.press_as(run, "create", "U0BOB").await;
        self.waits_at(run, "ask_merge").await;
        self.press_as(run, "merge", "U0BOB").await;
        self.waits_at(run, "ask_stage").await;
        run
    }

    /// The approval PATCHes Azure DevOps received, as (status, comment).
    fn stage_decisions(&self) -> Vec<(String, String)> {
        self.azdo.with(|s| {
            s.cd.decisions
                .iter()
                .map(|(_, status, comment)| (status.clone(), comment.clone()))
                .collect()
        })
    }
}

async fn the_requester_of_a_release_cannot_approve_its_stages(backend: Backend) {
    let Some(w) = release_world(backend, &FOUR_EYES).await else {
        return;
    };
    let run = w.release_asked_by_ada().await;
    let id = w.app.press_twice(run, "approve", "U0ADA").await;
    w.app.slack.ack(&id).await;
    let notes = notes_to(&w.app, "U0ADA", 1).await;
    assert_eq!(
        notes,
        [
            "You asked for this run, so someone else decides it (four eyes: ALLOW_SELF_APPROVAL is \
          off). Nothing changed. Who can: anyone else in the workspace."
        ]
    );
    let refused = refusals(&w.app, run).await;
    assert_eq!(
        refused.len(),
        1,
        "delivered twice, refused once: {refused:?}"
    );
    assert!(refused[0].ends_with("refused: own_request"), "{refused:?}");
    w.app.settled(run).await;
    assert!(
        w.stage_decisions().is_empty(),
        "nothing was sent to Azure DevOps"
    );
    assert_eq!(w.app.run(run).await.status, RunStatus::Waiting);

    w.press_as(run, "approve", "U0BOB").await;
    let decisions = wait_until("Sandbox's approval in Azure DevOps", || async {
        Some(w.stage_decisions()).filter(|d| !d.is_empty())
    })
    .await;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert!(decisions[0].1.contains("U0BOB"), "{decisions:?}");
    w.app.finish().await;
}

async fn a_stage_that_needs_two_people_counts_each_once(backend: Backend) {
    let (_dir, path) = repos_config(
        "[repos.\"Billo.Api\".approvers.stages.Production]\n\
         users = [\"U0OPS1\", \"U0OPS2\", \"U0OPS3\"]\n\
         required = 2\n",
    );
    let vars = [("REPOS_CONFIG", path.as_str())];
    let Some(w) = release_world(backend, &vars).await else {
        return;
    };
    let run = w.to_first_stage().await;
    w.press(run, "approve").await;
    w.waits_at(run, "ask_stage").await;
    let card = w.card(run).await;
    assert!(card.contains("Approve Production"), "{card}");
    assert_eq!(
        w.stage_decisions().len(),
        1,
        "Sandbox, approved by one person"
    );

    // Delivered twice by Slack, then clicked again: one vote.
    let id = w.app.press_twice(run, "approve", "U0OPS1").await;
    w.app.slack.ack(&id).await;
    w.app.settled(run).await;
    let id = w.app.press(run, "approve", "U0OPS1").await;
    w.app.slack.ack(&id).await;
    w.app.settled(run).await;
    let card = w.card(run).await;
    assert!(
        card.contains("Production: 1 of 2, approved by <@U0OPS1>"),
        "the same person twice counts once: {card}"
    );
    assert_eq!(
        w.stage_decisions().len(),
        1,
        "Production is not approved yet"
    );

    let id = w.app.press(run, "approve", "U0ADA").await;
    w.app.slack.ack(&id).await;
    let notes = notes_to(&w.app, "U0ADA", 1).await;
    assert_eq!(
        notes,
        [
            "You are not one of the approvers for the Production stage (<@U0OPS1>, <@U0OPS2>, \
          <@U0OPS3>), so nothing changed. Ask one of them."
        ]
    );

    w.press_as(run, "approve", "U0OPS2").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.outcome);
    let decisions = w.stage_decisions();
    assert_eq!(
        decisions.len(),
        2,
        "exactly one PATCH for Production: {decisions:?}"
    );
    assert!(
        decisions[1].1.contains("U0OPS1") && decisions[1].1.contains("U0OPS2"),
        "the comment names both: {decisions:?}"
    );
    let votes: Vec<String> = audit_of(&w.app, run, "vote")
        .await
        .into_iter()
        .map(|a| format!("{} {}", a.actor, a.detail))
        .collect();
    assert_eq!(
        votes,
        [
            "U0OPS1 chose approve at stage (Production): 1 of 2",
            "U0OPS1 chose approve at stage (Production): 1 of 2 (counted already)"
        ]
    );
    w.app.finish().await;
}

async fn the_author_of_a_pr_cannot_merge_it_and_a_teammate_can(backend: Backend) {
    let Some(w) = world(backend, &FOUR_EYES).await else {
        return;
    };
    w.app.slack.set_email("U0ADA", "ada@billo.example");
    w.ticketed_pr();
    let (_, run) = w.review_as("Billo.Api#12", "U0BOB").await;
    w.waits_at(run, "ask_merge").await;

    let id = w.app.press(run, "merge", "U0ADA").await;
    w.app.slack.ack(&id).await;
    let notes = notes_to(&w.app, "U0ADA", 1).await;
    assert!(
        notes[0].starts_with("You wrote this PR, so someone else decides it"),
        "{notes:?}"
    );
    let refused = refusals(&w.app, run).await;
    assert!(refused[0].ends_with("refused: own_pr"), "{refused:?}");
    let id = w.app.press(run, "merge", "U0BOB").await;
    w.app.slack.ack(&id).await;
    let notes = notes_to(&w.app, "U0BOB", 1).await;
    assert!(notes[0].starts_with("You asked for this run"), "{notes:?}");
    w.app.settled(run).await;
    assert_eq!(w.app.run(run).await.step, "ask_merge", "nothing merged");

    w.press_as(run, "merge", "U0CAROL").await;
    w.waits_at(run, "ask_ci").await;
    let lookups = w.app.slack.calls("users.lookupByEmail");
    assert!(
        lookups
            .iter()
            .all(|c| c.body["email"] == "ada@billo.example"),
        "{:?}",
        lookups.iter().map(|c| &c.body).collect::<Vec<_>>()
    );
    w.app.finish().await;
}

/// The model approves, yet reports a major finding (as a PR's own text might have talked it into).
const APPROVE_OVER_MAJOR: &str = r#"{"verdict":"approve","summary":"Looks fine.","findings":[{"file":"src/login.rs","line":1,"severity":"major","title":"Password not checked","body":"Any password logs in."}]}"#;

async fn the_ai_does_not_vote_unless_asked_and_a_major_finding_requests_changes(backend: Backend) {
    let Some(w) = world(backend, &[("REVIEW_VOTE", "approve")]).await else {
        return;
    };
    w.jira.add_issue("ALLPOST-9", "Login", "In Progress");
    let commit = w
        .repo
        .branch("feature/ALLPOST-9-login", APPROVE_OVER_MAJOR, None);
    w.open_pr(15, "feature/ALLPOST-9-login", &commit);
    let (_, run) = w.review("15").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done);
    assert_eq!(
        w.azdo.with(|s| s.votes.clone()),
        [(15, -5)],
        "request changes, whatever the model answered"
    );
    assert!(
        w.app.store.approvals_for_run(run).await.unwrap().is_empty(),
        "no merge was offered"
    );
    let replies = w.replies(run).await.join("\n");
    assert!(
        replies.contains("request changes")
            && replies.contains("The model answered approve, but it reported 1 critical or major"),
        "{replies}"
    );
    w.app.finish().await;
}

/// Only clicks from the bot's own workspace, on the run's own card, count.
async fn an_envelope_from_another_workspace_or_message_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let run = app.start_demo().await;
    let approval = app.pending_approval(run).await;
    let mut click = app.click_envelope(&approval, "go", "U0MALLORY").await;
    click["payload"]["team"]["id"] = json!("T0OTHER");
    click["payload"]["user"]["team_id"] = json!("T0OTHER");
    let id = app.slack.deliver(click.clone()).await;
    assert_eq!(app.slack.ack(&id).await, json!({"envelope_id": id}));
    app.slack.redeliver(&click).await;
    app.slack.ack(&id).await;
    let ignored = wait_until("the audit entry", || async {
        let audit = app.store.audit_for_run(run).await.unwrap();
        let ignored: Vec<_> = audit
            .into_iter()
            .filter(|a| a.action == "envelope_ignored")
            .map(|a| (a.actor, a.detail))
            .collect();
        (!ignored.is_empty()).then_some(ignored)
    })
    .await;
    assert_eq!(
        ignored,
        [(
            "U0MALLORY".to_owned(),
            "a click ignored: workspace T0OTHER is not the bot's (T0TEAM)".to_owned()
        )],
        "delivered twice, audited once"
    );

    let mut command = app.slack.slash_envelope("/release", "status", "U0MALLORY");
    command["payload"]["team_id"] = json!("T0OTHER");
    let id = app.slack.deliver(command).await;
    assert_eq!(
        app.slack.ack(&id).await,
        json!({"envelope_id": id}),
        "no answer to another workspace"
    );

    // The same approval's button, but on another message than the run's card.
    let elsewhere = app.slack.click_envelope(
        "decide:go",
        &format!("{}:go", approval.id),
        "U0CLICKER",
        "1700000000.000009",
    );
    app.slack.deliver(elsewhere).await;
    let notes = notes_to(&app, "U0CLICKER", 1).await;
    assert_eq!(
        notes,
        [
            "That button is not on the run's card, so it does not count. Nothing changed. Use the \
             buttons on its card in <#C0RELEASES>, or in my Home tab."
        ]
    );
    let refused = refusals(&app, run).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].ends_with("refused: not_on_card"), "{refused:?}");
    app.settled(run).await;
    assert!(
        notes_to(&app, "U0MALLORY", 0).await.is_empty(),
        "no note to another workspace"
    );
    assert_eq!(app.run(run).await.status, RunStatus::Waiting);

    app.press(run, "go", "U0CLICKER").await;
    assert_eq!(app.finished(run).await.status, RunStatus::Done);
    app.finish().await;
}

/// `/release audit` and `GET /audit`: who asked, who decided or was refused what, when, and
/// through what.
async fn the_audit_trail_says_who_did_what_and_through_what(backend: Backend) {
    let mut vars = HTTP_VARS.to_vec();
    vars.extend(FOUR_EYES);
    let Some(w) = release_world(backend, &vars).await else {
        return;
    };
    let run = w.release_asked_by_ada().await;
    w.app.press(run, "approve", "U0ADA").await;
    notes_to(&w.app, "U0ADA", 1).await;
    let approval = w.app.pending_approval(run).await;
    let path = format!("/approvals/{}", approval.id);
    let approved = post(
        &w,
        &path,
        Auth::Operator(OPS_TOKEN),
        json!({"option": "approve"}),
    )
    .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
    w.waits_at(run, "ask_stage").await;

    let answer = w
        .app
        .slack
        .slash("/release", "audit Billo.Api", "U0EVE")
        .await;
    let text = answer["payload"]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    for line in [
        "*Billo.Api 1.4.3: who did what, oldest first*",
        "· Release Billo.Api 1.4.3 · <@U0ADA> asked for: Release Billo.Api 1.4.3 (via slash command)",
        "· <@U0BOB> decided: chose create at create-release-pr (via button)",
        "· <@U0BOB> decided: chose merge at merge-release-pr (via button)",
        "· <@U0ADA> was refused: approve, refused: own_request (via button)",
        "· <@U0OPS> decided: chose approve at stage (Sandbox) (via operator API)",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }

    let nameless = Auth::Operator(OPERATOR_TOKEN);
    let trail = call(
        &w,
        Method::GET,
        "/audit?repo=billo.api&version=1.4.3",
        nameless,
        None,
    )
    .await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.text);
    assert_eq!(
        (&trail.body["repo"], &trail.body["version"]),
        (&json!("Billo.Api"), &json!("1.4.3"))
    );
    let entries: Vec<(String, String, String)> = trail.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let field = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (field("who"), field("action"), field("via"))
        })
        .collect();
    let expected = [
        ("U0ADA", "started", "slash command"),
        ("U0BOB", "decision", "button"),
        ("U0BOB", "decision", "button"),
        ("U0ADA", "decision_refused", "button"),
        ("U0OPS", "decision", "operator API"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(entries, expected, "{}", trail.text);

    let csv = reqwest::Client::new()
        .get(format!("{}/audit?repo=Billo.Api", w.app.http_url()))
        .header("X-Operator-Token", OPERATOR_TOKEN)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "at,repo,version,run,subject,who,action,detail,via");
    assert_eq!(rows.len(), 1 + expected.len(), "{csv}");
    assert!(
        rows[5].ends_with(",U0OPS,decision,chose approve at stage (Sandbox),operator API"),
        "{csv}"
    );

    let unknown = call(
        &w,
        Method::GET,
        "/audit?repo=Billo.Api&version=9.9.9",
        nameless,
        None,
    )
    .await;
    assert_eq!(
        unknown.error(StatusCode::NOT_FOUND),
        "Billo.Api has no release 9.9.9: no run, staging or archive knows it (known: 1.4.3, 1.4.2)"
    );
    let no_repo = call(&w, Method::GET, "/audit", nameless, None).await;
    assert!(
        no_repo
            .error(StatusCode::BAD_REQUEST)
            .starts_with("which repository?")
    );
    let typo = call(
        &w,
        Method::GET,
        "/audit?repository=Billo.Api",
        nameless,
        None,
    )
    .await;
    assert!(
        typo.error(StatusCode::BAD_REQUEST)
            .contains("unknown field `repository`"),
        "{}",
        typo.text
    );
    w.app.finish().await;
}

/// `from_azure_devops = true`: whom Azure DevOps lists as Production's approvers decide it in
/// Slack, matched by email; a group counts by its members, nested groups too.
async fn a_stage_can_take_its_approvers_from_azure_devops(backend: Backend) {
    let (_dir, path) = repos_config(
        "[repos.\"Billo.Api\".approvers.stages.Production]\nfrom_azure_devops = true\n",
    );
    let vars = [("REPOS_CONFIG", path.as_str())];
    let Some(w) = release_world(backend, &vars).await else {
        return;
    };
    w.azdo
        .add_identity("u-ann", "Ann Lee", Some("ann@billo.example"), &[]);
    w.azdo
        .add_identity("u-bo", "Bo Berg", Some("bo@billo.example"), &[]);
    w.azdo.add_identity("g-ops", "[Proj]\\Ops", None, &["u-bo"]);
    let managers = w.azdo.add_identity(
        "g-release",
        "[Proj]\\Release Managers",
        None,
        &["u-ann", "g-ops"],
    );
    w.azdo.state.lock().unwrap().cd.plan[1].approver = managers;
    for (user, email) in [
        ("U0ANN", "ann@billo.example"),
        ("U0BOB", "Bo@Billo.example"),
        ("U0EVE", "eve@billo.example"),
    ] {
        w.app.slack.set_email(user, email);
    }
    let run = w.to_first_stage().await;
    w.press(run, "approve").await;
    wait_until("the question about Production", || async {
        let card = w.card(run).await;
        card.contains("[Approve Production]").then_some(())
    })
    .await;

    w.app.press(run, "approve", "U0EVE").await;
    let notes = notes_to(&w.app, "U0EVE", 1).await;
    assert_eq!(
        notes,
        [
            "You are not one of the approvers for the Production stage (Ann Lee, Bo Berg), so \
             nothing changed. Ask one of them."
        ]
    );
    assert_eq!(w.stage_decisions().len(), 1, "only Sandbox was decided");

    w.press_as(run, "approve", "U0BOB").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.outcome);
    let decisions = w.stage_decisions();
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    assert!(decisions[1].1.contains("U0BOB"), "{decisions:?}");
    w.app.finish().await;
}

on_both_backends!(
    a_stage_can_take_its_approvers_from_azure_devops,
    the_audit_trail_says_who_did_what_and_through_what,
    an_envelope_from_another_workspace_or_message_changes_nothing,
    the_ai_does_not_vote_unless_asked_and_a_major_finding_requests_changes,
    the_requester_of_a_release_cannot_approve_its_stages,
    a_stage_that_needs_two_people_counts_each_once,
    the_author_of_a_pr_cannot_merge_it_and_a_teammate_can,
);
