//! A repository in a second Azure DevOps project (REPOS_CONFIG `project`): its PR is found
//! from `/review <id>` alone, reviewed, merged, built and staged, and its release shipped, with
//! every call in its own project and its card linking there. The fake refuses a repository or
//! PR asked for in the wrong project, as Azure DevOps does.

use release_agent::domain::RunStatus;

use crate::on_both_backends;
use crate::pr_flow::{APPROVE_WITH_FINDING, world_on};
use crate::support::Backend;
use crate::support::fake_azdo::{FakeAzdo, FakePr};
use crate::support::releases::prepare_cd;

async fn a_repository_in_a_second_project_is_reviewed_merged_and_released(backend: Backend) {
    let azdo = FakeAzdo::start().await;
    azdo.in_project("Billo.Mobile", "Mobile");
    prepare_cd(&azdo);
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "[repos.\"Billo.Mobile\"]\nproject = \"Mobile\"\n",
    )
    .unwrap();
    let path = config.path().display().to_string();
    let vars = [
        ("REPOS_CONFIG", path.as_str()),
        ("WATCHED_REPOS", "Billo.Api,Billo.Mobile"),
        ("CI_AUTO_TRIGGER", "true"),
        ("RELEASE_POLL_INTERVAL_SECONDS", "1"),
    ];
    let Some(w) = world_on(backend, &vars, azdo).await else {
        return;
    };
    w.repo.also_as("Billo.Mobile");
    w.jira
        .add_issue("ALLPOST-60", "Offline mode", "In Progress");
    let commit = w
        .repo
        .branch("feature/ALLPOST-60", APPROVE_WITH_FINDING, None);
    w.azdo.add_pr(FakePr {
        repo: "Billo.Mobile".into(),
        ..FakePr::open(60, "Offline mode", "feature/ALLPOST-60", &commit)
    });
    let (_, run) = w.review("60").await;
    w.waits_at(run, "ask_merge").await;
    let card = w.card(run).await;
    assert!(
        card.contains("/Mobile/_git/Billo.Mobile/pullrequest/60"),
        "the card links to the PR in its project: {card}"
    );
    w.press(run, "merge").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    let staged = w.app.store.staging("Billo.Mobile").await.unwrap().unwrap();
    assert_eq!(staged.prs.iter().map(|p| p.id).collect::<Vec<_>>(), [60]);

    w.release("Billo.Mobile").await;
    let release = w.release_run().await;
    w.waits_at(release, "ask_create").await;
    w.press(release, "create").await;
    w.waits_at(release, "ask_merge").await;
    w.press(release, "merge").await;
    w.waits_at(release, "ask_stage").await;
    w.press(release, "approve").await;
    w.waits_at(release, "ask_stage").await;
    w.press(release, "approve").await;
    assert_eq!(w.app.finished(release).await.status, RunStatus::Done);

    let requests = w.azdo.with(|s| s.requests.clone());
    let mobile: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("Billo.Mobile"))
        .collect();
    assert!(mobile.len() > 5, "{requests:?}");
    assert!(
        mobile.iter().all(|r| r
            .split(' ')
            .nth(1)
            .is_some_and(|p| p.starts_with("/Mobile/"))),
        "every call about the repository is made in its project: {mobile:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST /Mobile/_apis/build/builds")),
        "its builds are queued in its project"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /Mobile/_apis/release/releases")),
        "its CD release is looked for in its project"
    );
    w.app.finish().await;
}

on_both_backends!(a_repository_in_a_second_project_is_reviewed_merged_and_released);
