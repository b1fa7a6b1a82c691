//! The release workflow end to end: `/release` through Socket Mode, a fake Azure DevOps with a
//! release PR, CI on main and a classic CD release (Sandbox, then Production), and a fake Jira.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use release_agent::domain::{RunId, RunStatus, Version};
use release_agent::store::{StagedPr, Store};

use crate::on_both_backends;
use crate::pr_flow::{APPROVE_WITH_FINDING, World, released, world, world_on};
use crate::support::fake_azdo::{BuildPlan, FakeAzdo};
use crate::support::fake_jira::FakeJira;
use crate::support::releases::{DEVELOP_HEAD, prepare_cd, released_on};
use crate::support::{Backend, FIRST, wait_until, wait_within};

/// The scene of every release test: Billo.Api released 1.4.2, then three PRs with a ticket each
/// merged into develop, so 1.4.3 is staged; CD deploys to Sandbox, then Production, each after an
/// approval.
pub async fn release_world(backend: Backend, extra: &[(&str, &str)]) -> Option<World> {
    release_world_on(backend, extra, FakeAzdo::start().await).await
}

/// [`release_world`] with an Azure DevOps the test prepared before the bot starts.
pub async fn release_world_on(
    backend: Backend,
    extra: &[(&str, &str)],
    azdo: FakeAzdo,
) -> Option<World> {
    let mut vars = vec![("RELEASE_POLL_INTERVAL_SECONDS", "1")];
    vars.extend_from_slice(extra);
    let w = world_on(backend, &vars, azdo).await?;
    stage_release(&w.app.store, &w.azdo, &w.jira, w.app.clock.now()).await;
    Some(w)
}

/// Billo.Api released 1.4.2, then three PRs with a ticket each merged into develop, so 1.4.3 is
/// staged; CD deploys to Sandbox, then Production, each after an approval.
pub async fn stage_release(store: &Store, azdo: &FakeAzdo, jira: &FakeJira, now: DateTime<Utc>) {
    released_on(store, Version::new(1, 4, 2), now).await;
    for (id, key, summary) in [
        (21, "ALLPOST-1", "Login page"),
        (22, "ALLPOST-2", "Password reset"),
        (23, "ALLPOST-3", "Remember me"),
    ] {
        jira.add_issue(key, summary, "Ready for QA");
        let pr = StagedPr::merged(id, summary, "", &[]);
        store
            .stage_pr("Billo.Api", pr, &[key.to_owned()], &FIRST, now)
            .await
            .unwrap();
    }
    prepare_cd(azdo);
}

impl World {
    /// `/release text` through Socket Mode; the ack's text.
    pub async fn release(&self, text: &str) -> String {
        self.release_as(text, "U0ADA").await
    }

    /// [`Self::release`] asked by `user`.
    pub async fn release_as(&self, text: &str, user: &str) -> String {
        let ack = self.app.slack.slash("/release", text, user).await;
        ack["payload"]["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The newest release run.
    pub async fn release_run(&self) -> RunId {
        wait_until("a release run", || async {
            let runs = self.app.store.recent_runs(10).await.unwrap();
            runs.into_iter().find(|r| r.kind == "release").map(|r| r.id)
        })
        .await
    }

    /// `/release Billo.Api`, up to the question whether to merge its release PR.
    pub async fn to_merge_question(&self) -> RunId {
        self.release("Billo.Api").await;
        let run = self.release_run().await;
        self.waits_at(run, "ask_create").await;
        self.press(run, "create").await;
        self.waits_at(run, "ask_merge").await;
        run
    }

    /// `/release Billo.Api`, up to the question about its first stage.
    pub async fn to_first_stage(&self) -> RunId {
        let run = self.to_merge_question().await;
        self.press(run, "merge").await;
        self.waits_at(run, "ask_stage").await;
        run
    }

    fn jira_statuses(&self) -> Vec<String> {
        ["ALLPOST-1", "ALLPOST-2", "ALLPOST-3"]
            .map(|key| self.jira.status(key))
            .to_vec()
    }
}

async fn a_staged_release_goes_to_production_with_its_notes_and_archive(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    let ack = w.release("billo.api").await;
    assert_eq!(
        ack,
        "Releasing Billo.Api 1.4.3. Follow it on its card in <#C0RELEASES>."
    );
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    let card = w.card(run).await;
    assert!(card.contains("Release Billo.Api 1.4.3"), "{card}");
    assert!(card.contains("`develop` → `main`"), "{card}");
    assert!(
        card.contains("|ALLPOST-2> Password reset"),
        "tickets with their Jira summaries: {card}"
    );
    assert!(card.contains("|PR 23> Remember me"), "{card}");
    assert!(card.ends_with("[Create release PR] [Cancel]"), "{card}");

    w.press(run, "create").await;
    w.waits_at(run, "ask_merge").await;
    let created = w.azdo.with(|s| s.created.clone());
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].0, "Release Billo.Api 1.4.3");
    assert!(
        created[0].1.contains("[ALLPOST-1](") && created[0].1.contains("- !22 Password reset"),
        "the description is the release notes: {}",
        created[0].1
    );
    let card = w.card(run).await;
    assert!(card.contains("Release PR: <"), "{card}");
    assert!(card.ends_with("[Merge release PR] [Cancel]"), "{card}");

    w.press(run, "merge").await;
    w.waits_at(run, "ask_stage").await;
    assert_eq!(
        w.azdo.with(|s| s.completions.clone()),
        [(400, DEVELOP_HEAD.to_owned())],
        "the release PR was merged once, at the commit the card showed"
    );
    let builds = w.azdo.with(|s| s.builds.clone());
    assert_eq!(builds.len(), 1);
    assert_eq!(
        (builds[0].branch.as_str(), builds[0].commit.as_deref()),
        ("main", Some("merge-d0d0d0d0"))
    );
    let card = w.card(run).await;
    assert!(card.ends_with("[Approve Sandbox] [Skip]"), "{card}");
    assert!(
        card.contains("Sandbox waiting for approval · Production not started"),
        "{card}"
    );

    // While the release ships, a PR merged into develop opens the next version.
    let next = w
        .app
        .store
        .stage_pr(
            "Billo.Api",
            StagedPr::merged(24, "Later", "", &[]),
            &[],
            &FIRST,
            w.app.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(next.version, Version::new(1, 4, 4));

    w.press(run, "approve").await;
    w.waits_at(run, "ask_stage").await;
    let card = w.card(run).await;
    assert!(card.ends_with("[Approve Production] [Skip]"), "{card}");
    w.app.clock.advance(TimeDelta::days(2));
    let release_day = w.app.clock.now();
    w.press(run, "approve").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.outcome);

    let decisions = w.azdo.with(|s| s.cd.decisions.clone());
    assert_eq!(decisions.len(), 2, "one approval call per stage");
    assert!(decisions.iter().all(|(_, status, _)| status == "approved"));
    assert!(
        decisions[0].2.starts_with(
            "Approved in Slack by @someone (U0ADA) via release-agent, with the bot's account \
             (Billo.Api 1.4.3"
        ),
        "{}",
        decisions[0].2
    );
    assert_eq!(w.jira_statuses(), ["Done", "Done", "Done"]);
    let archived = w.app.store.archived("Billo.Api").await.unwrap();
    assert_eq!(archived[0].version, Version::new(1, 4, 3));
    assert_eq!(
        archived[0].prs.iter().map(|p| p.id).collect::<Vec<_>>(),
        [21, 22, 23],
        "the archive holds what shipped, not the PR merged meanwhile"
    );
    assert!(
        archived[0].released_at >= release_day,
        "released_at comes from the engine's clock"
    );
    assert_eq!(
        w.app
            .store
            .staging("Billo.Api")
            .await
            .unwrap()
            .unwrap()
            .version,
        Version::new(1, 4, 4)
    );
    assert_eq!(w.app.store.shipping("Billo.Api").await.unwrap(), None);

    let replies = w.replies(run).await;
    let notes = replies
        .iter()
        .find(|r| r.starts_with(":rocket: *Released Billo.Api 1.4.3*"))
        .unwrap_or_else(|| panic!("no release notes in {replies:?}"));
    assert!(notes.contains("|ALLPOST-3> Remember me"), "{notes}");
    assert!(notes.contains("|PR 21> Login page"), "{notes}");
    assert!(
        notes.contains("• Production approved by <@U0ADA> on"),
        "who approved what: {notes}"
    );
    let broadcast = w
        .app
        .slack
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["reply_broadcast"] == true)
        .count();
    assert_eq!(broadcast, 1, "the notes are also shown in the channel");

    let history = w.release("history Billo.Api").await;
    assert!(
        history.contains("• 1.4.3 on ") && history.contains("• 1.4.2 on "),
        "{history}"
    );
    w.app.finish().await;
}

async fn a_failed_ci_build_ends_the_release_with_a_retry(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    w.azdo.plan_build(BuildPlan::Finish {
        polls: 1,
        result: "failed",
    });
    let run = w.to_merge_question().await;
    w.press(run, "merge").await;
    let failed = w.app.finished(run).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.outcome.as_deref(), Some("CI build 2026.900 failed"));
    let card = w.card(run).await;
    assert!(card.contains("CI: <"), "the card shows the build: {card}");
    assert!(card.ends_with("[Retry]"), "{card}");
    let replies = w.replies(run).await;
    assert!(
        replies.iter().any(|r| r.contains("build 2026.900> failed")),
        "{replies:?}"
    );
    assert!(
        w.azdo.with(|s| s.cd.releases.is_empty()),
        "nothing was deployed"
    );

    w.press(run, "retry").await;
    w.waits_at(run, "ask_stage").await;
    let builds = w.azdo.with(|s| s.builds.clone());
    assert_eq!(builds.len(), 2, "the retry queued a new build");
    assert_eq!(builds[1].commit, builds[0].commit);
    w.app.finish().await;
}

/// Azure DevOps away for longer than the engine's retries stops a release with Retry on its card;
/// once it is back, Retry goes on from the step that failed, and nothing done before is done
/// again.
async fn a_release_stopped_by_an_outage_goes_on_from_there_with_retry(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    w.azdo.with_mut(|s| s.pr_reads_fail = true);
    w.press(run, "create").await;
    // Five attempts, each after the client's own three tries: about 18 s.
    let failed = wait_within(
        Duration::from_secs(60),
        "the release to give up",
        || async {
            let record = w.app.run(run).await;
            record.status.is_finished().then_some(record)
        },
    )
    .await;
    assert_eq!(failed.status, RunStatus::Failed);
    let outcome = failed.outcome.unwrap_or_default();
    assert!(outcome.ends_with("(gave up after 5 attempts)"), "{outcome}");
    let card = w.card(run).await;
    assert!(card.ends_with("[Retry]"), "{card}");

    w.azdo.with_mut(|s| s.pr_reads_fail = false);
    w.press(run, "retry").await;
    w.waits_at(run, "ask_merge").await;
    assert_eq!(
        w.azdo.with(|s| s.created.len()),
        1,
        "the release PR was created once"
    );
    w.press(run, "merge").await;
    w.waits_at(run, "ask_stage").await;
    w.app.finish().await;
}

/// A release that failed past its tag leaves its release merged into main and tagged. The next
/// `/release` ships it with what was merged since, under the next version (the tag names the
/// earlier merge commit, and a version names one commit), and the failed run's Retry is gone:
/// it would ship the same PRs again.
async fn a_release_after_one_that_failed_past_its_tag_takes_the_next_version(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    w.azdo.plan_build(BuildPlan::Finish {
        polls: 1,
        result: "failed",
    });
    let first = w.to_merge_question().await;
    w.press(first, "merge").await;
    assert_eq!(w.app.finished(first).await.status, RunStatus::Failed);
    assert!(w.card(first).await.ends_with("[Retry]"));

    let later = StagedPr::merged(24, "Later", "", &[]);
    let now = w.app.clock.now();
    let staged = w.app.store.stage_pr("Billo.Api", later, &[], &FIRST, now);
    assert_eq!(staged.await.unwrap().version, Version::new(1, 4, 4));
    w.azdo
        .with_mut(|s| s.heads.insert("develop".into(), "e1e1e1e1bbbb2222".into()));
    let ack = w.release("Billo.Api").await;
    assert_eq!(
        ack,
        "Releasing Billo.Api 1.4.4. Follow it on its card in <#C0RELEASES>."
    );
    let second = wait_until("the second release run", || async {
        let runs = w.app.store.recent_runs(10).await.unwrap();
        runs.into_iter()
            .find(|r| r.kind == "release" && r.id != first)
            .map(|r| r.id)
    })
    .await;
    w.ship(second).await;

    let tags = w.azdo.with(|s| {
        s.tags
            .iter()
            .map(|t| format!("{} {}", t.name, t.commit))
            .collect::<Vec<_>>()
    });
    assert_eq!(tags, ["v1.4.3 merge-d0d0d0d0", "v1.4.4 merge-e1e1e1e1"]);
    let archived = w.app.store.archived("Billo.Api").await.unwrap();
    assert_eq!(archived[0].version, Version::new(1, 4, 4));
    assert_eq!(
        archived[0].prs.iter().map(|p| p.id).collect::<Vec<_>>(),
        [21, 22, 23, 24],
        "what the failed release merged ships here"
    );
    assert_eq!(w.app.store.shipping("Billo.Api").await.unwrap(), None);
    let card = w.card(second).await;
    assert!(
        card.contains(
            "Billo.Api 1.4.3 was merged into main by an earlier release that did not finish; \
             this release ships it as 1.4.4, because v1.4.3 names that release's merge commit"
        ),
        "{card}"
    );
    let card = w.card(first).await;
    assert!(!card.contains("[Retry]"), "{card}");
    w.app.finish().await;
}

async fn a_rejection_in_azure_devops_stops_the_release(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    let run = w.to_first_stage().await;
    w.press(run, "approve").await;
    w.waits_at(run, "ask_stage").await;
    w.azdo.state.lock().unwrap().cd.reject("Production");
    let failed = w.app.finished(run).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(
        failed.outcome.as_deref(),
        Some("Production was rejected in Azure DevOps")
    );
    let card = w.card(run).await;
    assert!(
        card.contains("Production was rejected in Azure DevOps"),
        "{card}"
    );
    assert!(card.ends_with("[Retry]"), "{card}");
    assert_eq!(
        w.azdo.with(|s| s.cd.decisions.len()),
        1,
        "only Sandbox was approved by the bot"
    );
    assert_eq!(
        w.jira_statuses(),
        ["Ready for QA", "Ready for QA", "Ready for QA"]
    );
    assert!(w.app.store.archived("Billo.Api").await.unwrap().len() == 1);
    assert!(
        w.app.store.shipping("Billo.Api").await.unwrap().is_some(),
        "1.4.3 stays merged for release, for a later /release"
    );
    w.app.finish().await;
}

async fn skipping_sandbox_rejects_it_and_deploys_nothing_until_production_is_started(
    backend: Backend,
) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    let run = w.to_first_stage().await;
    w.press(run, "skip").await;
    w.waits_at(run, "ask_start").await;
    let decisions = w.azdo.with(|s| s.cd.decisions.clone());
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(
        decisions[0].1, "rejected",
        "the skip rejects Sandbox's approval"
    );
    assert!(
        decisions[0]
            .2
            .starts_with("Skipped, so rejected, in Slack by @someone (U0ADA) via"),
        "{decisions:?}"
    );
    assert_eq!(
        w.azdo.with(|s| s.cd.starts.len()),
        0,
        "nothing started Production: it waits for its own decision"
    );
    let card = w.card(run).await;
    assert!(card.ends_with("[Start Production] [Skip]"), "{card}");
    assert!(card.contains("Sandbox skipped"), "{card}");

    w.press(run, "approve").await;
    w.waits_at(run, "ask_stage").await;
    assert_eq!(w.azdo.with(|s| s.cd.starts.len()), 1, "started once");
    let card = w.card(run).await;
    assert!(card.ends_with("[Approve Production] [Skip]"), "{card}");
    w.press(run, "approve").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.outcome);
    let decisions = w.azdo.with(|s| s.cd.decisions.clone());
    assert_eq!(decisions.len(), 2, "Sandbox rejected, Production approved");
    assert_eq!(decisions[1].1, "approved");
    let notes = w.replies(run).await.join("\n");
    assert!(notes.contains("• Sandbox skipped by <@U0ADA>"), "{notes}");
    assert_eq!(w.jira_statuses(), ["Done", "Done", "Done"]);
    w.app.finish().await;
}

async fn an_open_release_pr_is_reused(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    w.azdo.add_pr(crate::support::fake_azdo::FakePr {
        target_branch: "main".into(),
        ..crate::support::fake_azdo::FakePr::open(77, "Release by hand", "develop", DEVELOP_HEAD)
    });
    let run = w.to_merge_question().await;
    assert!(
        w.azdo.with(|s| s.created.is_empty()),
        "no second release PR"
    );
    let card = w.card(run).await;
    assert!(
        card.contains("|PR 77> (it was already open, so the bot reused it)"),
        "{card}"
    );
    w.press(run, "merge").await;
    w.waits_at(run, "ask_stage").await;
    assert_eq!(
        w.azdo.with(|s| s.completions.clone()),
        [(77, DEVELOP_HEAD.to_owned())]
    );
    w.app.finish().await;
}

async fn a_release_pr_that_moved_is_not_merged_blind(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    let run = w.to_merge_question().await;
    let moved = "d1d1d1d1bbbb2222";
    w.azdo.move_branch("develop", moved);
    w.press(run, "merge").await;
    w.waits_at(run, "stale").await;
    let card = w.card(run).await;
    assert!(
        card.contains("The release PR moved after it was shown, so nothing was merged: TF401192"),
        "{card}"
    );
    assert!(card.ends_with("[Refresh] [Cancel]"), "{card}");
    assert!(
        w.app.store.shipping("Billo.Api").await.unwrap().is_none(),
        "the release went back to staging"
    );
    assert_eq!(
        w.app
            .store
            .staging("Billo.Api")
            .await
            .unwrap()
            .unwrap()
            .version,
        Version::new(1, 4, 3)
    );

    w.press(run, "refresh").await;
    w.waits_at(run, "ask_merge").await;
    w.press(run, "merge").await;
    w.waits_at(run, "ask_stage").await;
    assert_eq!(
        w.azdo.with(|s| s.completions.clone()),
        [(400, DEVELOP_HEAD.to_owned()), (400, moved.to_owned())],
        "the second merge is of the commit shown after the refresh"
    );
    w.app.finish().await;
}

async fn a_second_release_of_a_repository_gets_the_one_under_way(backend: Backend) {
    let Some(w) = release_world(backend, &[]).await else {
        return;
    };
    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    // The answers link to the card once it is posted.
    w.app.card_ts(run).await;
    let second = w.release("Billo.Api").await;
    assert!(
        second.starts_with(
            "A release of Billo.Api is already under way; one release at a time per repository: <https://test.slack.com/archives/C0RELEASES/p"
        ),
        "{second}"
    );
    let releases = w
        .app
        .store
        .recent_runs(10)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "release")
        .count();
    assert_eq!(releases, 1);
    let status = w.release("status").await;
    assert!(status.contains("*Billo.Api*"), "{status}");
    assert!(
        status.contains("• staging 1.4.3: 3 PRs, 3 tickets (ALLPOST-1, ALLPOST-2, ALLPOST-3)"),
        "{status}"
    );
    assert!(
        status.contains("• release under way (<https://test.slack.com/archives/C0RELEASES/p")
            && status.contains(
                "waiting for *Create the release PR develop → main for Billo.Api 1.4.3?*"
            ),
        "{status}"
    );
    w.app.finish().await;
}

async fn nothing_staged_is_explained(backend: Backend) {
    let Some(w) = world(backend, &[]).await else {
        return;
    };
    released(&w.app, Version::new(1, 4, 2)).await;
    let answer = w.release("Billo.Api").await;
    assert_eq!(
        answer,
        "Nothing to release for Billo.Api: no PR was merged into it since 1.4.2 was released. PRs count once the bot merges them, or once the poller sees them merged."
    );
    assert!(w.app.store.recent_runs(5).await.unwrap().is_empty());
    w.app.finish().await;
}

async fn a_repository_with_its_own_channel_and_jira_project_uses_them(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("repos.toml");
    std::fs::write(
        &file,
        "[repos.\"Billo.Api\"]\nslack_channel = \"C0BILLO\"\njira_project = \"BILLO\"\n",
    )
    .unwrap();
    let Some(w) = release_world(backend, &[("REPOS_CONFIG", file.to_str().unwrap())]).await else {
        return;
    };
    let channel_of = |run: RunId| {
        let w = &w;
        async move {
            w.app.settled(run).await;
            let ts = w.app.run(run).await.card_ts.unwrap();
            let card = w.app.slack.card(&ts).expect("the card was sent");
            card["channel"].as_str().unwrap_or_default().to_owned()
        }
    };

    let ack = w.release("Billo.Api").await;
    assert_eq!(
        ack,
        "Releasing Billo.Api 1.4.3. Follow it on its card in <#C0BILLO>."
    );
    let release = w.release_run().await;
    w.waits_at(release, "ask_create").await;
    assert_eq!(channel_of(release).await, "C0BILLO");

    let ticket = r#"{"summary":"Add the login page","description":"Users can log in."}"#;
    let commit = w
        .repo
        .branch("chore/login", APPROVE_WITH_FINDING, Some(ticket));
    w.open_pr(13, "chore/login", &commit);
    let (ack, review) = w.review("Billo.Api#13").await;
    assert_eq!(
        ack,
        "Reviewing Billo.Api#13. Follow it on its card in <#C0BILLO>."
    );
    w.waits_at(review, "ask_merge").await;
    assert_eq!(channel_of(review).await, "C0BILLO");
    let created = w.jira.with(|s| s.created.clone());
    assert_eq!(created.len(), 1);
    assert!(
        created[0].starts_with("BILLO-"),
        "the ticket is in the repository's Jira project: {created:?}"
    );
    w.app.finish().await;
}

on_both_backends!(
    a_staged_release_goes_to_production_with_its_notes_and_archive,
    a_failed_ci_build_ends_the_release_with_a_retry,
    a_release_after_one_that_failed_past_its_tag_takes_the_next_version,
    a_release_stopped_by_an_outage_goes_on_from_there_with_retry,
    a_rejection_in_azure_devops_stops_the_release,
    skipping_sandbox_rejects_it_and_deploys_nothing_until_production_is_started,
    an_open_release_pr_is_reused,
    a_release_pr_that_moved_is_not_merged_blind,
    a_second_release_of_a_repository_gets_the_one_under_way,
    nothing_staged_is_explained,
    a_repository_with_its_own_channel_and_jira_project_uses_them,
);
