//! The answers to `/review help` and `/release help`.

use crate::domain::RepoName;

pub fn review_help() -> String {
    [
        "*`/review`* — an AI code review of an Azure DevOps pull request",
        "• `/review https://dev.azure.com/org/project/_git/Repo/pullrequest/123` — a link",
        "• `/review Repo#123` — repository and PR number",
        "• `/review 123` — the PR number alone",
        "The review runs on a clean checkout of the PR. Findings go to the PR and to the card's thread; \
         an approving review offers *Merge* on the card.",
    ]
    .join("\n")
}

pub fn release_help(repos: &[RepoName]) -> String {
    let known = if repos.is_empty() {
        "none yet (set `WATCHED_REPOS`)".to_owned()
    } else {
        super::mrkdwn::escape(
            &repos
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        )
    };
    [
        "*`/release`* — take a repository's staging release to production".to_owned(),
        "• `/release <repo>` — release the repo's staging version: release PR, CI, Sandbox, Production".into(),
        "• `/release <repo> <version>` — the same, as a version of your choice above the last one".into(),
        "• `/release freeze <repo> <reason>` — refuse its Merge buttons and release starts, with the reason, until `/release unfreeze <repo>`".into(),
        "• `/release hotfix <repo>` — make `hotfix/<next patch>` off the release branch; PRs into it ship with **Ship hotfix**".into(),
        "• `/release rollback <repo> [version]` — deploy an earlier released version again, stage by stage, each asked here (the one before the deployed one without a version)".into(),
        "• `/release status [repo]` — staging releases and waiting approvals".into(),
        "• `/release history <repo>` — versions released so far".into(),
        "• `/release audit <repo> [version]` — who asked, approved, refused or skipped what, and how (the latest release without a version)".into(),
        format!("Known repositories: {known}"),
    ]
    .join("\n")
}
