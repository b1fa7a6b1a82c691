//! Versions as teams run them, through Socket Mode against the fakes: conventional-commit bumps
//! read from the merged PRs, a version of the user's choice, the last version read from git
//! tags, and the release tagged in the origin.

use release_agent::domain::{RunId, RunStatus, Version};

use crate::on_both_backends;
use crate::pr_flow::{APPROVE_WITH_FINDING, World, released, world};
use crate::support::Backend;
use crate::support::fake_azdo::FakePr;
use crate::support::releases::prepare_cd;
use crate::support::repo::git;

pub const AUTO_CI: &[(&str, &str)] = &[
    ("CI_AUTO_TRIGGER", "true"),
    ("RELEASE_POLL_INTERVAL_SECONDS", "1"),
];

impl World {
    /// PR `id` titled `title` (with `description` and `labels`), with its ticket ALLPOST-`id`,
    /// reviewed and merged through the bot; returns its run's replies.
    pub async fn merge_pr(
        &self,
        id: u32,
        title: &str,
        description: &str,
        labels: &[&str],
    ) -> Vec<String> {
        self.merge_pr_at(id, title, description, labels, "In Progress")
            .await
    }

    /// [`Self::merge_pr`] with its ticket in `status` at first.
    pub async fn merge_pr_at(
        &self,
        id: u32,
        title: &str,
        description: &str,
        labels: &[&str],
        status: &str,
    ) -> Vec<String> {
        let key = format!("ALLPOST-{id}");
        self.jira.add_issue(&key, title, status);
        let branch = format!("feature/{key}");
        let commit = self.repo.branch(&branch, APPROVE_WITH_FINDING, None);
        self.azdo.add_pr(FakePr {
            description: description.into(),
            labels: labels.iter().map(|&l| l.to_owned()).collect(),
            ..FakePr::open(id, title, &branch, &commit)
        });
        let (_, run) = self.review(&id.to_string()).await;
        self.waits_at(run, "ask_merge").await;
        self.press(run, "merge").await;
        assert_eq!(self.app.finished(run).await.status, RunStatus::Done);
        self.replies(run).await
    }

    /// The release run from its ask to create the release PR to its end, every stage approved.
    pub async fn ship(&self, run: RunId) {
        self.deploy(run).await;
        let done = self.app.finished(run).await;
        assert_eq!(done.status, RunStatus::Done, "{:?}", done.outcome);
    }

    /// The release run from its ask to create the release PR through its last stage.
    pub async fn deploy(&self, run: RunId) {
        self.waits_at(run, "ask_create").await;
        self.press(run, "create").await;
        self.waits_at(run, "ask_merge").await;
        self.press(run, "merge").await;
        for _ in ["Sandbox", "Production"] {
            self.waits_at(run, "ask_stage").await;
            self.press(run, "approve").await;
        }
    }

    pub async fn notes(&self, run: RunId) -> String {
        let replies = self.replies(run).await;
        replies
            .into_iter()
            .find(|r| r.starts_with(":rocket: *Released"))
            .expect("release notes")
    }

    fn archived_tags(&self) -> Vec<(String, String)> {
        self.azdo.with(|s| {
            s.tags
                .iter()
                .map(|t| (t.name.clone(), t.commit.clone()))
                .collect()
        })
    }
}

async fn a_feature_and_a_fix_ship_as_a_minor_version(backend: Backend) {
    let Some(w) = world(backend, AUTO_CI).await else {
        return;
    };
    released(&w.app, Version::new(1, 4, 2)).await;
    prepare_cd(&w.azdo);
    let replies = w.merge_pr(102, "fix: trim the login name", "", &[]).await;
    assert!(
        replies.iter().any(|r| r.contains(
            "Counted in the staging release *Billo.Api 1.4.3* (patch: #102 fix: trim the login name;"
        )),
        "{replies:?}"
    );
    let replies = w.merge_pr(101, "feat: login page", "", &[]).await;
    assert!(
        replies.iter().any(|r| r.contains(
            "Counted in the staging release *Billo.Api 1.5.0* (minor: #101 feat: login page; 2 PRs"
        )),
        "the version is recomputed as PRs join: {replies:?}"
    );

    let ack = w.release("Billo.Api").await;
    assert!(ack.starts_with("Releasing Billo.Api 1.5.0."), "{ack}");
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    let card = w.card(run).await;
    assert!(
        card.contains("Version 1.5.0: minor: #101 feat: login page"),
        "the card says why: {card}"
    );
    w.ship(run).await;
    let archived = w.app.store.archived("Billo.Api").await.unwrap();
    assert_eq!(archived[0].version, Version::new(1, 5, 0));
    let notes = w.notes(run).await;
    let features = notes.find("*Features (1)*\n• <").expect(&notes);
    let fixes = notes.find("*Fixes (1)*\n• <").expect(&notes);
    let tickets = notes.find("*Tickets (2)*").expect(&notes);
    assert!(features < fixes && fixes < tickets, "{notes}");
    assert!(notes.contains("|PR 101> feat: login page"), "{notes}");
    assert_eq!(
        w.archived_tags(),
        [("v1.5.0".to_owned(), "merge-d0d0d0d0".to_owned())],
        "the merge commit is tagged once"
    );
    let message = w.azdo.with(|s| s.tags[0].message.clone());
    assert!(
        message.contains("Features (1):\n- !101 feat: login page"),
        "the tag's message is the notes: {message}"
    );
    w.app.finish().await;
}

async fn a_breaking_change_ships_as_a_major_version_and_a_label_wins(backend: Backend) {
    let Some(w) = world(backend, AUTO_CI).await else {
        return;
    };
    released(&w.app, Version::new(1, 4, 2)).await;
    prepare_cd(&w.azdo);
    let described = "Drops /v1/login.\n\nBREAKING CHANGE: clients must call /v2/login";
    w.merge_pr(103, "fix: drop the old login", described, &[])
        .await;
    w.merge_pr(104, "feat!: new session cookie", "", &["release:patch"])
        .await;
    let staged = w.app.store.staging("Billo.Api").await.unwrap().unwrap();
    assert_eq!(staged.version, Version::new(2, 0, 0));
    let bumps: Vec<String> = staged.prs.iter().map(|p| p.bump.to_string()).collect();
    assert_eq!(
        bumps,
        ["major", "patch"],
        "the label release:patch wins over `!`"
    );

    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    let card = w.card(run).await;
    assert!(
        card.contains("Version 2.0.0: major: #103 fix: drop the old login"),
        "{card}"
    );
    w.ship(run).await;
    assert_eq!(
        w.app.store.archived("Billo.Api").await.unwrap()[0].version,
        Version::new(2, 0, 0)
    );
    let notes = w.notes(run).await;
    assert!(
        notes.contains("*Breaking (1)*\n• <") && notes.contains("|PR 103> fix: drop the old login"),
        "{notes}"
    );
    w.app.finish().await;
}

async fn a_version_of_the_users_choice_ships_if_it_is_higher(backend: Backend) {
    let Some(w) = world(backend, AUTO_CI).await else {
        return;
    };
    released(&w.app, Version::new(1, 4, 2)).await;
    prepare_cd(&w.azdo);
    w.merge_pr(105, "fix: typo", "", &[]).await;

    let refused = w.release("Billo.Api 1.4.2").await;
    assert_eq!(
        refused,
        "1.4.2 is not above the last release of Billo.Api, 1.4.2: choose a higher version, or \
         `/release Billo.Api` for the staged one."
    );
    let bad = w.release("Billo.Api two").await;
    assert!(bad.starts_with("`two` is not a version"), "{bad}");
    assert!(
        w.app
            .store
            .recent_runs(10)
            .await
            .unwrap()
            .iter()
            .all(|r| r.kind != "release"),
        "nothing started"
    );

    let ack = w.release("Billo.Api v3.0.0").await;
    assert!(ack.starts_with("Releasing Billo.Api 3.0.0."), "{ack}");
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    let card = w.card(run).await;
    assert!(card.contains("Release Billo.Api 3.0.0"), "{card}");
    assert!(card.contains("Version 3.0.0: chosen by <@U0ADA>"), "{card}");
    w.ship(run).await;
    assert_eq!(
        w.app.store.archived("Billo.Api").await.unwrap()[0].version,
        Version::new(3, 0, 0)
    );
    assert_eq!(w.archived_tags()[0].0, "v3.0.0");
    assert_eq!(
        w.app.store.staging("Billo.Api").await.unwrap(),
        None,
        "the staged PR shipped in 3.0.0"
    );
    w.app.finish().await;
}

/// Billo.Api's origin with `main` at develop's first commit, tagged v2.3.1, a higher tag that
/// main does not contain, and a tag of another format; the fake Azure DevOps merges there.
pub fn tagged_origin(w: &World) {
    let author = &w.repo.author;
    git(author, &["push", "--quiet", "origin", "develop:main"]);
    git(author, &["tag", "-a", "v2.3.1", "-m", "2.3.1"]);
    git(author, &["tag", "api-7.0.0"]);
    git(author, &["checkout", "--quiet", "-b", "experiment"]);
    crate::support::repo::write(author, "EXPERIMENT.md", "x\n");
    git(author, &["add", "-A"]);
    git(author, &["commit", "--quiet", "-m", "experiment"]);
    git(author, &["tag", "-a", "v9.0.0", "-m", "not on main"]);
    git(author, &["push", "--quiet", "origin", "--tags"]);
    w.azdo.with_mut(|s| s.origin = Some(w.repo.bare.clone()));
}

async fn a_tagged_repository_continues_from_its_tag_and_tags_the_merge_commit(backend: Backend) {
    let Some(w) = world(backend, AUTO_CI).await else {
        return;
    };
    tagged_origin(&w);
    prepare_cd(&w.azdo);
    let replies = w.merge_pr(106, "fix: typo", "", &[]).await;
    assert!(
        replies
            .iter()
            .any(|r| r.contains("Counted in the staging release *Billo.Api 2.3.2*")),
        "no release in the database: the last version is v2.3.1, the highest tag on main: {replies:?}"
    );

    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.ship(run).await;
    let origin = &w.repo.bare;
    let main = git(origin, &["rev-parse", "main"]).trim().to_owned();
    let merge = w.azdo.with(|s| {
        s.prs
            .values()
            .find(|p| p.target_branch == "main")
            .and_then(|p| p.merge_commit.clone())
    });
    assert_eq!(
        merge.as_deref(),
        Some(main.as_str()),
        "the release PR merged into main"
    );
    assert_eq!(
        git(origin, &["rev-parse", "v2.3.2^{commit}"]).trim(),
        main,
        "the tag is on the merge commit"
    );
    assert_eq!(
        git(origin, &["cat-file", "-t", "v2.3.2"]).trim(),
        "tag",
        "annotated"
    );
    let message = git(origin, &["tag", "-l", "--format=%(contents)", "v2.3.2"]);
    assert!(
        message.starts_with("Release Billo.Api 2.3.2 (develop → main)")
            && message.contains("- !106 fix: typo"),
        "{message}"
    );
    assert_eq!(w.azdo.with(|s| s.tags.len()), 1, "tagged once");
    assert_eq!(
        w.app.store.archived("Billo.Api").await.unwrap()[0].version,
        Version::new(2, 3, 2)
    );
    w.app.finish().await;
}

/// A tag of the release's version on another commit stops the release before its build, with
/// Retry; once the tag is gone, Retry tags and goes on.
async fn a_version_tag_on_another_commit_stops_the_release_with_retry(backend: Backend) {
    let Some(w) = world(backend, AUTO_CI).await else {
        return;
    };
    tagged_origin(&w);
    prepare_cd(&w.azdo);
    git(
        &w.repo.author,
        &["tag", "-a", "v2.3.2", "-m", "by hand", "experiment"],
    );
    git(&w.repo.author, &["push", "--quiet", "origin", "v2.3.2"]);
    w.merge_pr(107, "fix: typo", "", &[]).await;
    w.release("Billo.Api").await;
    let run = w.release_run().await;
    w.waits_at(run, "ask_create").await;
    w.press(run, "create").await;
    w.waits_at(run, "ask_merge").await;
    w.press(run, "merge").await;
    let failed = w.app.finished(run).await;
    assert_eq!(failed.status, RunStatus::Failed);
    let card = w.card(run).await;
    assert!(
        card.contains("the tag v2.3.2 already exists in Billo.Api, on ")
            && card.contains("and not on the release's merge commit"),
        "{card}"
    );
    assert!(card.ends_with("[Retry]"), "{card}");
    assert!(
        w.azdo.with(|s| s.builds.iter().all(|b| b.branch != "main")),
        "main was not built"
    );

    git(&w.repo.bare, &["tag", "-d", "v2.3.2"]);
    w.press(run, "retry").await;
    w.waits_at(run, "ask_stage").await;
    let main = git(&w.repo.bare, &["rev-parse", "main"]).trim().to_owned();
    assert_eq!(
        git(&w.repo.bare, &["rev-parse", "v2.3.2^{commit}"]).trim(),
        main
    );
    w.app.finish().await;
}

on_both_backends!(
    a_feature_and_a_fix_ship_as_a_minor_version,
    a_breaking_change_ships_as_a_major_version_and_a_label_wins,
    a_version_of_the_users_choice_ships_if_it_is_higher,
    a_tagged_repository_continues_from_its_tag_and_tags_the_merge_commit,
    a_version_tag_on_another_commit_stops_the_release_with_retry,
);
