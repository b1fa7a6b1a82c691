//! The database going away under a running bot: a PostgreSQL server of the test's own (made from
//! the local installation, `support::pg_server`) is stopped in the middle of runs, for longer than
//! a lease, and started again.

use std::path::Path;
use std::time::Duration;

use release_agent::domain::{RunStatus, Version};
use reqwest::{Method, StatusCode};

use crate::http::{Auth, HTTP_VARS, OPERATOR_TOKEN, call};
use crate::pr_flow::{APPROVE_WITH_FINDING, World, released, world_in};
use crate::support::fake_azdo::FakeAzdo;
use crate::support::fake_jira::FakeJira;
use crate::support::pg_server::PgServer;
use crate::support::{FakeSlack, TestDb, wait_within};

/// PR 12 waits for its merge click and PR 13 is being reviewed (the stand-in takes 2 s) when
/// PostgreSQL stops. While it is down the bot keeps its Slack connection; `/status` says since
/// when it is down; a `/review` is answered at once that nothing was saved; a click is not acked
/// (Slack marks the button) and its clicker is told why and to click again; help still answers.
/// Once the server is back, the review that was under way is saved without running the reviewer
/// again, the second click merges PR 12 once, and nothing is posted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_in_the_middle_of_runs_loses_nothing_and_does_nothing_twice() {
    let Some(server) = PgServer::start().await else {
        return;
    };
    let db = TestDb::create_on(&server.admin_url()).await;
    let fakes = (
        FakeAzdo::start().await,
        FakeJira::start().await,
        FakeSlack::start().await,
    );
    let w = world_in(db, &HTTP_VARS, fakes).await;
    released(&w.app, Version::new(1, 4, 2)).await;
    let commit = w.ticketed_pr();
    let (_, waiting) = w.review("Billo.Api#12").await;
    w.waits_at(waiting, "ask_merge").await;
    let approval = w.app.pending_approval(waiting).await;
    let click = w.app.click_envelope(&approval, "merge", "U0ADA").await;
    w.jira.add_issue("ALLPOST-13", "Search", "In Progress");
    w.repo
        .branch("feature/ALLPOST-13_search", APPROVE_WITH_FINDING, None);
    let slow = w.repo.slow_reviews("feature/ALLPOST-13_search");
    w.open_pr(13, "feature/ALLPOST-13_search", &slow);
    let (_, reviewing) = w.review("Billo.Api#13").await;
    let worktrees = w.repo.repos_dir.join(".release-agent-worktrees");
    wait_within(
        Duration::from_secs(20),
        "the reviewer to run on PR 13",
        || async { reviewer_running(&worktrees).then_some(()) },
    )
    .await;
    let connections = w.app.slack.connections_opened();

    server.down().await;
    let (word, detail) = status(&w).await;
    assert_eq!(word, (StatusCode::SERVICE_UNAVAILABLE, "down".to_owned()));
    assert_eq!(detail["database"]["ok"], false, "{detail}");
    let since = detail["database"]["down_since"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(since.starts_with("20"), "down since a time: {detail}");
    assert_eq!(detail["slack"]["connected"], true, "{detail}");

    let refused = w.app.slack.slash("/review", "Billo.Api#14", "U0EVE").await;
    let refused = refused["payload"]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        refused.starts_with(":warning: The bot cannot reach its database (no answer since 20")
            && refused.contains(
                "so this was neither done nor saved. Send it again once the database is back"
            ),
        "{refused}"
    );
    let help = w.app.slack.slash("/review", "help", "U0EVE").await;
    let help = help["payload"]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        help.starts_with("*`/review`* — an AI code review"),
        "{help}"
    );

    let notes_before = w.app.slack.notes().len();
    let envelope = w.app.slack.deliver(click).await;
    let note = wait_within(
        Duration::from_secs(10),
        "the clicker to be told",
        || async {
            let notes = w.app.slack.notes();
            notes
                .get(notes_before)
                .map(|n| crate::pr_flow::blocks_text(&n.body))
        },
    )
    .await;
    assert!(
        note.starts_with(":warning: Your click was not recorded: the bot cannot reach its database (no answer since 20")
            && note.ends_with("Nothing was decided; click again once the database is back."),
        "{note}"
    );
    assert_eq!(
        w.app.slack.acked_at(&envelope),
        None,
        "an unsaved click is not acked"
    );
    // Down for longer than a lease (5 s in tests): the review's lease runs out meanwhile.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(w.app.slack.acked_at(&envelope), None);

    server.up().await;
    wait_within(
        Duration::from_secs(20),
        "the bot to see the database back",
        || async { (status(&w).await.0.0 == StatusCode::OK).then_some(()) },
    )
    .await;
    w.waits_at(reviewing, "ask_merge").await;
    let again = w.app.click_envelope(&approval, "merge", "U0ADA").await;
    let envelope = w.app.slack.deliver(again).await;
    w.app.slack.ack(&envelope).await;
    w.waits_at(waiting, "ask_ci").await;

    assert_eq!(
        w.azdo.with(|s| s.completions.clone()),
        [(12, commit)],
        "merged once, on the click after the restart"
    );
    // Each start of the reviewer is journaled (`effects`) before it runs.
    let attempts = format!(
        "SELECT attempts FROM effects WHERE run_id = '{reviewing}' AND name LIKE 'review:%' \
         AND status = 'done'"
    );
    assert_eq!(
        w.app.db.count(&attempts).await,
        1,
        "PR 13's reviewer ran once"
    );
    let summaries = |pr: u32| {
        w.azdo.with(|s| {
            s.threads
                .iter()
                .filter(|(of, t)| *of == pr && t.get("threadContext").is_none())
                .count()
        })
    };
    assert_eq!(
        (summaries(12), summaries(13)),
        (1, 1),
        "one summary thread per PR"
    );
    for run in [waiting, reviewing] {
        let replies = w.replies(run).await;
        let reviews = replies
            .iter()
            .filter(|r| r.contains("*AI review of "))
            .count();
        assert_eq!(reviews, 1, "{replies:?}");
    }
    assert_eq!(
        w.app.run(reviewing).await.status,
        RunStatus::Waiting,
        "PR 13 waits for its merge click"
    );
    assert_eq!(
        w.app.slack.connections_opened(),
        connections,
        "the Slack connection was kept through the outage"
    );
    assert_eq!(
        w.app.store.pending_deliveries(10).await.unwrap().len(),
        0,
        "the refused /review was not saved to run later"
    );
    assert_eq!(w.runs_for(14).await.len(), 0);
    assert!(w.app.still_running(), "the bot ran through the outage");
    w.app.finish().await;
    drop(server);
}

/// `/status` as everyone sees it (code and word) and as an operator does.
async fn status(w: &World) -> ((StatusCode, String), serde_json::Value) {
    let open = call(w, Method::GET, "/status", Auth::None, None).await;
    let detail = call(
        w,
        Method::GET,
        "/status",
        Auth::Operator(OPERATOR_TOKEN),
        None,
    )
    .await;
    let word = open.body["status"].as_str().unwrap_or_default().to_owned();
    ((open.status, word), detail.body)
}

/// Whether a stand-in reviewer runs in a worktree under `dir`, seen by its process's working
/// directory (the same path inside the reviewer's sandbox).
fn reviewer_running(dir: &Path) -> bool {
    let processes = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    processes.into_iter().any(|process| {
        let cwd = std::fs::read_link(process.path().join("cwd"));
        let command = std::fs::read(process.path().join("cmdline")).unwrap_or_default();
        cwd.is_ok_and(|cwd| cwd.starts_with(dir))
            && String::from_utf8_lossy(&command).contains("fake-claude")
    })
}
