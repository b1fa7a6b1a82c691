//! The flows against Azure DevOps Server: the fake speaks at most 6.0 (Server 2020) or 7.0
//! (Server 2022). With AZDO_API_VERSION auto (the default) the bot's first call is refused with
//! `VssVersionOutOfRangeException`, and from then on every call uses the version the server
//! named; the PR flow (with a branch policy read at the preview of that version) and a release
//! through Sandbox and Production finish as on the cloud.

use release_agent::domain::RunStatus;

use crate::on_both_backends;
use crate::pr_flow::{APPROVE_WITH_FINDING, world_on};
use crate::release_flow::release_world_on;
use crate::support::Backend;
use crate::support::fake_azdo::{FakeAzdo, FakePr};
use crate::support::fake_policy::FakePolicy;

const SERVERS: [&str; 2] = ["6.0", "7.0"];

async fn server(version: &'static str) -> FakeAzdo {
    let azdo = FakeAzdo::start().await;
    azdo.with_mut(|s| {
        s.server_version = Some(version);
        s.policies.push(FakePolicy::build("approved"));
    });
    azdo
}

/// Every request after the first refusal asked for `version` (or its preview).
fn all_at(azdo: &FakeAzdo, version: &str) {
    let requests = azdo.with(|s| s.requests.clone());
    let refused = requests
        .iter()
        .take_while(|r| r.contains("api-version=7.1"))
        .count();
    assert!(refused >= 1, "the first call asked for 7.1: {requests:?}");
    let later = &requests[refused..];
    let wrong: Vec<&String> = later
        .iter()
        .filter(|r| !r.contains(&format!("api-version={version}")))
        .collect();
    assert!(wrong.is_empty(), "not at {version}: {wrong:?}");
    assert!(
        later
            .iter()
            .any(|r| r.contains(&format!("api-version={version}-preview"))),
        "preview resources at the server's version too"
    );
}

async fn the_pr_flow_runs_against_azure_devops_server(backend: Backend) {
    for version in SERVERS {
        let vars = [("CI_AUTO_TRIGGER", "true")];
        let Some(w) = world_on(backend, &vars, server(version).await).await else {
            return;
        };
        w.jira.add_issue("ALLPOST-50", "Login", "In Progress");
        let commit = w
            .repo
            .branch("feature/ALLPOST-50", APPROVE_WITH_FINDING, None);
        w.open_pr(50, "feature/ALLPOST-50", &commit);
        let (_, run) = w.review("50").await;
        w.waits_at(run, "ask_merge").await;
        w.press(run, "merge").await;
        assert_eq!(
            w.app.finished(run).await.status,
            RunStatus::Done,
            "{version}"
        );
        assert_eq!(w.azdo.with(|s| s.completions.len()), 1);
        assert_eq!(w.jira.status("ALLPOST-50"), "Ready for QA");
        all_at(&w.azdo, version);
        w.app.finish().await;
    }
}

async fn a_release_runs_against_azure_devops_server(backend: Backend) {
    for version in SERVERS {
        let Some(w) = release_world_on(backend, &[], server(version).await).await else {
            return;
        };
        let run = w.to_first_stage().await;
        w.press(run, "approve").await;
        w.waits_at(run, "ask_stage").await;
        w.press(run, "approve").await;
        assert_eq!(
            w.app.finished(run).await.status,
            RunStatus::Done,
            "{version}"
        );
        assert_eq!(w.azdo.with(|s| s.cd.decisions.len()), 2);
        all_at(&w.azdo, version);
        w.app.finish().await;
    }
}

/// Before 7.1 the server ignores the time range of the merged-PR search, so the poller reads
/// only the newest page, once per look, and still stages the PR merged by hand.
async fn the_poller_reads_one_page_of_merged_prs_before_7_1(backend: Backend) {
    let azdo = server("7.0").await;
    for id in 1..=150 {
        azdo.add_pr(FakePr {
            status: "completed".into(),
            closed: Some("2020-01-01T00:00:00Z".into()),
            merge_commit: Some(format!("old-{id}")),
            ..FakePr::open(id, "Old", &format!("feature/old-{id}"), "c0ffee")
        });
    }
    let vars = [
        ("PR_POLL_ENABLED", "true"),
        ("PR_POLL_INTERVAL_SECONDS", "1"),
        ("CI_AUTO_TRIGGER", "true"),
    ];
    let Some(w) = world_on(backend, &vars, azdo).await else {
        return;
    };
    let commit = w
        .repo
        .branch("feature/ALLPOST-51", APPROVE_WITH_FINDING, None);
    w.azdo.add_pr(FakePr {
        status: "completed".into(),
        closed: Some("2099-01-01T00:00:00Z".into()),
        merge_commit: Some("handmade".into()),
        ..FakePr::open(151, "Merged by hand", "feature/ALLPOST-51", &commit)
    });
    let run = w.run_for(151, &[]).await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    let runs = w.app.store.recent_runs(10).await.unwrap();
    assert_eq!(
        runs.len(),
        1,
        "the old merges before the bot started are not staged"
    );
    let searches: Vec<String> = w.azdo.with(|s| {
        s.requests
            .iter()
            .filter(|r| {
                r.contains("searchCriteria.status=completed") && r.contains("api-version=7.0")
            })
            .cloned()
            .collect()
    });
    assert!(!searches.is_empty());
    assert!(
        searches
            .iter()
            .all(|r| r.contains("%24skip=0") || r.contains("$skip=0")),
        "one page per look, never the next: {searches:?}"
    );
    w.app.finish().await;
}

on_both_backends!(
    the_pr_flow_runs_against_azure_devops_server,
    a_release_runs_against_azure_devops_server,
    the_poller_reads_one_page_of_merged_prs_before_7_1,
);
