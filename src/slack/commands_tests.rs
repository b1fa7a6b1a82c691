//! The parsing of `/review` and `/release`, case by case.

use super::*;

fn repos() -> Vec<RepoName> {
    ["Billo.Api", "Billo.Web"]
        .map(|r| RepoName::parse(r).unwrap())
        .to_vec()
}

fn review(text: &str) -> Result<Command, CommandError> {
    parse("/review", text, &repos())
}

fn release(text: &str) -> Result<Command, CommandError> {
    parse("/release", text, &repos())
}

#[test]
fn review_takes_links_hash_refs_and_numbers() {
    let Ok(Command::Review(pr)) = review("billo.api#12") else {
        panic!()
    };
    assert_eq!((pr.repo.unwrap().as_str(), pr.id), ("Billo.Api", 12));
    assert!(matches!(
        review(" 12 "),
        Ok(Command::Review(PrRef { repo: None, id: 12 }))
    ));
    let link = "<https://dev.azure.com/o/p/_git/Billo.Web/pullrequest/7|PR 7 fix login>";
    assert!(matches!(
        review(link),
        Ok(Command::Review(PrRef { id: 7, .. }))
    ));
    assert_eq!(review("HELP"), Ok(Command::ReviewHelp));
}

#[test]
fn review_explains_bad_input() {
    assert_eq!(review(""), Err(CommandError::Empty("/review")));
    assert!(matches!(
        review("twelve"),
        Err(CommandError::BadPullRequest(_))
    ));
    assert_eq!(review("12 13"), Err(CommandError::OnePullRequest));
    let unknown = review("Other#3").unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("I don't know the repository `Other`"),
        "{unknown}"
    );
    assert!(
        unknown.to_string().contains("Billo.Api, Billo.Web"),
        "{unknown}"
    );
}

#[test]
fn release_has_subcommands_and_repos() {
    assert_eq!(release("help"), Ok(Command::ReleaseHelp));
    assert_eq!(
        release("billo.web"),
        Ok(Command::Release(repos()[1].clone(), None))
    );
    assert_eq!(
        release("Billo.Api v2.0.0"),
        Ok(Command::Release(
            repos()[0].clone(),
            Some(Version::new(2, 0, 0))
        ))
    );
    assert_eq!(release("status"), Ok(Command::ReleaseStatus(None)));
    assert_eq!(
        release("status Billo.Api"),
        Ok(Command::ReleaseStatus(Some(repos()[0].clone())))
    );
    assert_eq!(
        release("history Billo.Api"),
        Ok(Command::ReleaseHistory(repos()[0].clone()))
    );
    assert_eq!(
        release("audit billo.api"),
        Ok(Command::ReleaseAudit(repos()[0].clone(), None))
    );
    assert_eq!(
        release("AUDIT Billo.Api v1.4.3"),
        Ok(Command::ReleaseAudit(
            repos()[0].clone(),
            Some(Version::new(1, 4, 3))
        ))
    );
}

#[test]
fn release_explains_bad_input() {
    assert_eq!(release("  "), Err(CommandError::Empty("/release")));
    assert_eq!(
        release("history"),
        Err(CommandError::MissingRepo("/release history"))
    );
    let unknown = release("statsu").unwrap_err().to_string();
    assert!(
        unknown.contains("`statsu` is neither a subcommand"),
        "{unknown}"
    );
    assert_eq!(
        release("audit"),
        Err(CommandError::MissingRepo("/release audit"))
    );
    let version = release("audit Billo.Api 1.4").unwrap_err().to_string();
    assert!(
        version.starts_with("`1.4` is not a version: write it as 1.4.3."),
        "{version}"
    );
    let extra = release("Billo.Api 2.0.0 please").unwrap_err().to_string();
    assert!(extra.contains("did not expect `please`"), "{extra}");
    let words = release("Billo.Api now please").unwrap_err().to_string();
    assert!(words.starts_with("`now` is not a version"), "{words}");
    assert_eq!(
        parse("/release", "Billo.Api", &[]),
        Err(CommandError::NoRepos)
    );
}

#[test]
fn freezes_need_a_repository_and_a_reason() {
    assert_eq!(
        release("freeze billo.api  payment  outage"),
        Ok(Command::Freeze(repos()[0].clone(), "payment outage".into()))
    );
    assert_eq!(
        release("rollback billo.api"),
        Ok(Command::Rollback(repos()[0].clone(), None))
    );
    assert_eq!(
        release("rollback Billo.Web v1.4.2"),
        Ok(Command::Rollback(
            repos()[1].clone(),
            Some(Version::new(1, 4, 2))
        ))
    );
    assert_eq!(
        release("hotfix billo.web"),
        Ok(Command::Hotfix(repos()[1].clone()))
    );
    assert_eq!(
        release("rollback"),
        Err(CommandError::MissingRepo("/release rollback"))
    );
    assert_eq!(
        release("UNFREEZE Billo.Api"),
        Ok(Command::Unfreeze(repos()[0].clone()))
    );
    assert_eq!(
        release("freeze Billo.Api"),
        Err(CommandError::MissingReason)
    );
    assert_eq!(
        release("freeze"),
        Err(CommandError::MissingRepo("/release freeze"))
    );
    let extra = release("unfreeze Billo.Api now").unwrap_err().to_string();
    assert!(extra.contains("did not expect `now`"), "{extra}");
}

#[test]
fn errors_escape_what_the_user_typed() {
    let text = release("<!channel>").unwrap_err().to_string();
    assert!(
        text.contains("&lt;!channel&gt;") && !text.contains("<!channel>"),
        "{text}"
    );
}
