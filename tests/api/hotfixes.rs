//! Releases off the beaten path, through Socket Mode against the fakes and a real origin: a fix
//! made on the release branch comes back to the target branch through a back-merge PR that is
//! reviewed and merged like any PR, a hotfix ships from its own branch, and a rollback deploys an
//! earlier release again.

use release_agent::domain::{RunStatus, Version};

use crate::on_both_backends;
use crate::pr_flow::{APPROVE_WITH_FINDING, world};
use crate::support::Backend;
use crate::support::fake_azdo::FakePr;
use crate::support::releases::prepare_cd;
use crate::support::repo::{git, write};
use crate::versions::tagged_origin;

/// CI on merge, quick looks at the CD release, and source branches deleted on merge (which a
/// back-merge must not do to main).
const SETTINGS: &[(&str, &str)] = &[
    ("CI_AUTO_TRIGGER", "true"),
    ("RELEASE_POLL_INTERVAL_SECONDS", "1"),
    ("DELETE_SOURCE_BRANCH", "true"),
];

/// A fix committed on main by hand, which develop lacks; returns its commit.
fn fix_on_main(author: &std::path::Path) -> String {
    git(author, &["fetch", "--quiet", "origin"]);
    git(
        author,
        &["checkout", "--quiet", "-B", "main", "origin/main"],
    );
    write(author, "src/fix.rs", "// fixed on main\n");
    git(author, &["add", "-A"]);
    git(
        author,
        &["commit", "--quiet", "-m", "fix: null check in prod"],
    );
    git(author, &["push", "--quiet", "origin", "main"]);
    git(author, &["rev-parse", "HEAD"]).trim().to_owned()
}

async fn a_fix_on_main_comes_back_through_a_reviewed_back_merge_pr(backend: Backend) {
    let Some(w) = world(backend, SETTINGS).await else {
        return;
    };
    tagged_origin(&w);
    prepare_cd(&w.azdo);
    let fix = fix_on_main(&w.repo.author);
    w.merge_pr(108, "fix: typo", "", &[]).await;
    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.deploy(run).await;

    w.waits_at(run, "ask_back_merge").await;
    let card = w.card(run).await;
    assert!(
        card.contains("main has 1 commits that develop lacks (")
            && card.contains("fix: null check in prod). Open a back-merge PR main → develop?"),
        "{card}"
    );
    assert!(card.contains("[Open back-merge PR] [Not now]"), "{card}");
    assert_eq!(
        w.app.store.archived("Billo.Api").await.unwrap()[0].version,
        Version::new(2, 3, 2),
        "archived before the question"
    );
    w.press_as(run, "open", "U0BOB").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    let (id, title) = w.azdo.with(|s| {
        let pr = s
            .prs
            .values()
            .find(|p| p.source_branch == "main" && p.target_branch == "develop")
            .expect("a back-merge PR");
        (pr.id, pr.title.clone())
    });
    assert_eq!(title, "Back-merge main into develop after Billo.Api 2.3.2");
    let replies = w.replies(run).await;
    assert!(
        replies
            .iter()
            .any(|r| r.contains(&format!("|PR {id}> opened; its review has a card"))),
        "{replies:?}"
    );

    let review = w.run_for(i64::from(id), &[]).await;
    w.waits_at(review, "ask_merge").await;
    let card = w.card(review).await;
    assert!(
        card.contains("A back-merge of main: its tickets were released already"),
        "{card}"
    );
    w.press(review, "merge").await;
    assert_eq!(w.app.finished(review).await.status, RunStatus::Done);
    let origin = &w.repo.bare;
    let develop = git(origin, &["rev-parse", "develop"]).trim().to_owned();
    git(origin, &["merge-base", "--is-ancestor", &fix, &develop]);
    let parents = git(origin, &["rev-list", "--parents", "-n", "1", &develop]);
    assert_eq!(
        parents.split_whitespace().count(),
        3,
        "merged with a merge commit, not squashed: {parents}"
    );
    git(origin, &["rev-parse", "--verify", "refs/heads/main"]);
    let completion = w.azdo.with(|s| s.prs[&id].completion.clone());
    assert_eq!(completion["deleteSourceBranch"], false, "{completion}");
    assert_eq!(
        w.app.store.staging("Billo.Api").await.unwrap(),
        None,
        "a back-merge is not staged"
    );
    assert!(
        w.jira.with(|s| s.created.is_empty()),
        "no ticket for a back-merge"
    );
    w.app.finish().await;
}

/// Two releases, then `/release rollback`: the first release's CD release is deployed again,
/// stage by stage, each stage asked about and then approved through its Azure DevOps approval;
/// the rollback is recorded with the version it left.
async fn a_rollback_deploys_the_earlier_release_again_through_its_approvals(backend: Backend) {
    let Some(w) = world(backend, SETTINGS).await else {
        return;
    };
    tagged_origin(&w);
    prepare_cd(&w.azdo);
    let nothing = w.release("rollback Billo.Api").await;
    assert_eq!(
        nothing,
        "Nothing to roll back: the bot has released no version of Billo.Api yet."
    );
    w.merge_pr(109, "fix: typo", "", &[]).await;
    w.release("Billo.Api").await;
    let first = w.release_run().await;
    w.ship(first).await;
    w.merge_pr(110, "feat: export", "", &[]).await;
    w.release("Billo.Api").await;
    let second = w.release_run().await;
    assert_ne!(first, second);
    w.ship(second).await;
    let archived = w.app.store.archived("Billo.Api").await.unwrap();
    assert_eq!(archived[0].version, Version::new(2, 4, 0));
    let first_cd = archived[1]
        .cd
        .clone()
        .expect("the CD release is archived")
        .id;

    let ack = w.release("rollback Billo.Api").await;
    assert!(
        ack.starts_with("Rolling back Billo.Api from 2.4.0 to 2.3.2."),
        "{ack}"
    );
    let run = w.release_run().await;
    for stage in ["Sandbox", "Production"] {
        w.waits_at(run, "ask_redeploy").await;
        let card = w.card(run).await;
        assert!(
            card.contains(&format!("Roll back {stage} from 2.4.0 to Billo.Api 2.3.2?"))
                && card.contains(&format!("[Roll back {stage}] [Stop rollback]")),
            "{card}"
        );
        w.press(run, "approve").await;
        w.waits_at(run, "ask_stage").await;
        w.press(run, "approve").await;
    }
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.outcome);
    let starts = w.azdo.with(|s| s.cd.starts.clone());
    assert_eq!(starts.len(), 2, "each stage started once: {starts:?}");
    assert!(
        starts.iter().all(|(release, _)| *release == first_cd),
        "the first release's deployment, again: {starts:?}"
    );
    let card = w.card(run).await;
    assert!(
        card.contains(":white_check_mark: Rollback Billo.Api to 2.3.2")
            && card.contains("Sandbox approved"),
        "{card}"
    );
    let replies = w.replies(run).await;
    assert!(
        replies.iter().any(|r| r
            .contains("*Rolled back Billo.Api to 2.3.2* in Sandbox, Production; it left 2.4.0.")),
        "{replies:?}"
    );
    let rollbacks = w.app.store.rollbacks("Billo.Api").await.unwrap();
    assert_eq!(rollbacks.len(), 1);
    assert_eq!(
        (rollbacks[0].version, rollbacks[0].left),
        (Version::new(2, 3, 2), Version::new(2, 4, 0))
    );
    assert_eq!(rollbacks[0].by, "U0ADA");
    assert_eq!(
        w.app.store.deployed_version("Billo.Api").await.unwrap(),
        Some(Version::new(2, 3, 2))
    );
    let history = w.release("history Billo.Api").await;
    assert!(
        history.contains("*Rollbacks, newest first*\n• back to 2.3.2 from 2.4.0 on "),
        "{history}"
    );
    let again = w.release("rollback Billo.Api 2.3.2").await;
    assert!(again.contains("is the version deployed now"), "{again}");
    let unknown = w.release("rollback Billo.Api 9.9.9").await;
    assert!(
        unknown.contains("9.9.9 is not a released version of Billo.Api"),
        "{unknown}"
    );
    w.app.finish().await;
}

/// `/release hotfix` from the v2.3.1 tag to the back-merge: hotfix/2.3.2 is made at main's tip,
/// a PR into it is reviewed and merged (not staged), Ship hotfix takes it through the release PR,
/// the tag, CI and both stages, the archive marks it a hotfix, and the back-merge PR brings the
/// fix to develop.
async fn a_hotfix_goes_from_its_tag_to_its_back_merge(backend: Backend) {
    let Some(w) = world(backend, SETTINGS).await else {
        return;
    };
    tagged_origin(&w);
    prepare_cd(&w.azdo);
    let origin = &w.repo.bare;
    let main_before = git(origin, &["rev-parse", "main"]).trim().to_owned();

    let ack = w.release("hotfix Billo.Api").await;
    assert!(ack.starts_with("Starting a hotfix of Billo.Api"), "{ack}");
    let run = w.release_run().await;
    w.waits_at(run, "ask_ship").await;
    assert_eq!(
        git(origin, &["rev-parse", "hotfix/2.3.2"]).trim(),
        main_before,
        "the branch is made at main's tip"
    );
    let card = w.card(run).await;
    assert!(
        card.contains("Hotfix Billo.Api 2.3.2")
            && card.contains("Ship Hotfix Billo.Api 2.3.2? 0 PRs are merged into hotfix/2.3.2")
            && card.contains("[Ship hotfix] [Cancel]"),
        "{card}"
    );

    let author = &w.repo.author;
    git(author, &["fetch", "--quiet", "origin"]);
    let branch = "fix/ALLPOST-120";
    git(
        author,
        &["checkout", "--quiet", "-b", branch, "origin/hotfix/2.3.2"],
    );
    write(author, "src/login.rs", "pub fn login() -> bool { false }\n");
    write(author, ".fake-claude-answer.json", APPROVE_WITH_FINDING);
    git(author, &["add", "-A"]);
    git(author, &["commit", "--quiet", "-m", "fix: crash on login"]);
    git(author, &["push", "--quiet", "origin", branch]);
    let fix = git(author, &["rev-parse", "HEAD"]).trim().to_owned();
    w.jira
        .add_issue("ALLPOST-120", "Crash on login", "In Progress");
    w.azdo.add_pr(FakePr {
        target_branch: "hotfix/2.3.2".into(),
        ..FakePr::open(120, "fix: crash on login", branch, &fix)
    });
    let (_, review) = w.review("120").await;
    w.waits_at(review, "ask_merge").await;
    w.press(review, "merge").await;
    assert_eq!(w.app.finished(review).await.status, RunStatus::Done);
    let replies = w.replies(review).await;
    assert!(
        replies.iter().any(|r| r
            .contains("Not counted in a staging release: it ships with the hotfix hotfix/2.3.2")),
        "{replies:?}"
    );
    assert_eq!(w.app.store.staging("Billo.Api").await.unwrap(), None);

    w.app
        .wait_for_run(run, "the hotfix to list its PR", |r| {
            r.state["prs"].as_array().is_some_and(|prs| prs.len() == 1)
        })
        .await;
    w.press(run, "ship").await;
    w.waits_at(run, "ask_merge").await;
    w.press(run, "merge").await;
    for _ in ["Sandbox", "Production"] {
        w.waits_at(run, "ask_stage").await;
        w.press(run, "approve").await;
    }
    w.waits_at(run, "ask_back_merge").await;
    let release_pr = w.azdo.with(|s| {
        s.prs
            .values()
            .find(|p| p.target_branch == "main")
            .map(|p| (p.source_branch.clone(), p.title.clone()))
    });
    assert_eq!(
        release_pr,
        Some(("hotfix/2.3.2".into(), "Hotfix Billo.Api 2.3.2".into()))
    );
    let main = git(origin, &["rev-parse", "main"]).trim().to_owned();
    assert_eq!(
        git(origin, &["rev-parse", "v2.3.2^{commit}"]).trim(),
        main,
        "tagged on the merge into main"
    );
    let squashed = w
        .azdo
        .with(|s| s.prs[&120].merge_commit.clone())
        .expect("PR 120 merged");
    git(origin, &["merge-base", "--is-ancestor", &squashed, &main]);
    let archived = &w.app.store.archived("Billo.Api").await.unwrap()[0];
    assert_eq!(archived.version, Version::new(2, 3, 2));
    assert_eq!(archived.hotfix.as_deref(), Some("hotfix/2.3.2"));
    assert_eq!(archived.tickets, ["ALLPOST-120"]);
    assert_eq!(w.jira.status("ALLPOST-120"), "Done");
    let notes = w.notes(run).await;
    assert!(notes.contains("fix: crash on login"), "{notes}");
    let history = w.release("history Billo.Api").await;
    assert!(
        history.contains("• 2.3.2 (hotfix, from hotfix/2.3.2) on "),
        "{history}"
    );

    w.press(run, "open").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    let back = w.azdo.with(|s| {
        s.prs
            .values()
            .find(|p| p.source_branch == "main" && p.target_branch == "develop")
            .map(|p| p.id)
    });
    let back = back.expect("a back-merge PR");
    let review = w.run_for(i64::from(back), &[]).await;
    w.waits_at(review, "ask_merge").await;
    w.press(review, "merge").await;
    assert_eq!(w.app.finished(review).await.status, RunStatus::Done);
    let develop = git(origin, &["rev-parse", "develop"]).trim().to_owned();
    git(
        origin,
        &["merge-base", "--is-ancestor", &squashed, &develop],
    );
    w.app.finish().await;
}

on_both_backends!(
    a_hotfix_goes_from_its_tag_to_its_back_merge,
    a_fix_on_main_comes_back_through_a_reviewed_back_merge_pr,
    a_rollback_deploys_the_earlier_release_again_through_its_approvals,
);
