//! The flows' views as Slack shows them. The views are pure and build rich text; these check
//! the mrkdwn it becomes (escaping, links, emphasis), so they live with Slack's renderer.

mod pr_view {
    use crate::domain::RepoName;
    use crate::reviewer::{Finding, Review, Severity, Verdict};
    use crate::workflow::pr::state::{InlineFinding, PrInfo};
    use crate::workflow::pr::state::{PrRun, ReviewResult, ReviewScope};
    use crate::workflow::pr::view::{card, review_message};

    fn run() -> PrRun {
        let mut run = PrRun::new(12, None);
        run.pr = Some(PrInfo {
            id: 12,
            repo: RepoName::parse("Billo.Api").unwrap(),
            title: "Login page".into(),
            description: String::new(),
            author: "Ada".into(),
            author_email: None,
            source_branch: "feature/ALLPOST-4028".into(),
            target_branch: "develop".into(),
            commit: "0123456789abcdef".into(),
            web_url: "https://dev.azure.com/o/p/_git/Billo.Api/pullrequest/12".into(),
        });
        run
    }

    fn finding(severity: Severity, file: &str) -> Finding {
        Finding {
            file: file.into(),
            line: 7,
            severity,
            title: "Title <x>".into(),
            body: "b".repeat(500),
        }
    }

    #[test]
    fn the_review_message_groups_findings_and_links_their_files() {
        let result = ReviewResult {
            review: Review {
                verdict: Verdict::RequestChanges,
                summary: "Two problems.".into(),
                findings: vec![
                    finding(Severity::Minor, "src/a.rs"),
                    finding(Severity::Critical, "src/b.rs"),
                ],
                cost_usd: None,
                duration_ms: None,
                turns: None,
                tokens: None,
            },
            inline: vec![InlineFinding {
                finding: finding(Severity::Critical, "src/b.rs"),
                path: "/src/b.rs".into(),
                line: 7,
                fingerprint: "f1".into(),
            }],
            general: vec![finding(Severity::Minor, "src/a.rs")],
            general_fingerprints: vec!["f2".into()],
            scope: ReviewScope::Full,
            not_reviewed: Vec::new(),
            ignored: 0,
            max_findings: None,
            notes: Vec::new(),
        };
        let text = crate::slack::mrkdwn::lines(&review_message(&run(), &result).lines);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*AI review of 01234567: changes requested*");
        assert_eq!(lines[2], "*Critical (1)*");
        assert!(lines[3].starts_with(
            "• <https://dev.azure.com/o/p/_git/Billo.Api/pullrequest/12?_a=files&amp;path=/src/b.rs|src/b.rs:7> *Title &lt;x&gt;*: bbb"
        ), "{}", lines[3]);
        assert!(lines[3].ends_with("b…"), "long bodies are cut");
        assert_eq!(lines[4], "*Minor (1)*");
        assert_eq!(
            lines[6],
            "1 of these are commented on their lines in the PR."
        );
    }

    #[test]
    fn the_card_names_the_pr_before_and_after_it_is_fetched() {
        assert_eq!(card(&PrRun::new(5, None)).title, "PR 5");
        assert_eq!(
            card(&PrRun::new(5, RepoName::parse("Billo.Web").ok())).title,
            "Billo.Web#5"
        );
        let fetched = card(&run());
        assert_eq!(fetched.title, "Billo.Api#12: Login page");
        let first = crate::slack::mrkdwn::line(&fetched.lines[0]);
        assert_eq!(
            first,
            "`feature/ALLPOST-4028` → `develop` · by Ada · <https://dev.azure.com/o/p/_git/Billo.Api/pullrequest/12|open in Azure DevOps>"
        );
    }
}

mod release_view {
    use crate::domain::RepoName;
    use crate::store::StagedPr;
    use crate::workflow::release::state::ReleaseRun;
    use crate::workflow::release::state::{CdRelease, StageSeen};
    use crate::workflow::release::view::card;

    #[test]
    fn the_card_names_the_release_and_shows_its_progress() {
        let mut run = ReleaseRun::new(
            RepoName::parse("Billo.Api").unwrap(),
            "develop".into(),
            "main".into(),
        );
        assert_eq!(card(&run, &|_| String::new()).title, "Release Billo.Api");
        run.version = Some("1.4.3".into());
        run.prs = vec![StagedPr::merged(12, "Login", "", &[])];
        run.cd = Some(CdRelease {
            id: 3,
            name: "Release-3".into(),
            url: "https://cd/3".into(),
            kind: Default::default(),
        });
        run.stages = vec![
            StageSeen {
                name: "Sandbox".into(),
                state: "deployed".into(),
            },
            StageSeen {
                name: "Production".into(),
                state: "waiting for approval".into(),
            },
        ];
        let view = card(&run, &|id| format!("https://pr/{id}"));
        assert_eq!(view.title, "Release Billo.Api 1.4.3");
        let text = crate::slack::mrkdwn::lines(&view.lines);
        assert!(text.contains("• <https://pr/12|PR 12> Login"), "{text}");
        assert!(
            text.contains(
                "CD: <https://cd/3|Release-3> · Sandbox deployed · Production waiting for approval"
            ),
            "{text}"
        );
    }
}

mod release_notes {
    use crate::workflow::release::notes::slack;
    use crate::workflow::release::notes::tests::run;

    #[test]
    fn the_slack_notes_list_tickets_prs_and_who_decided() {
        let notes = slack(&run(), &|id| format!("https://pr/{id}"));
        assert!(notes.broadcast, "release notes show in the channel");
        let text = crate::slack::mrkdwn::lines(&notes.lines);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], ":rocket: *Released Billo.Api 1.4.3*");
        assert_eq!(
            lines[1..6],
            [
                "*Features (1)*",
                "• <https://pr/12|PR 12> feat: Login *page* [draft]",
                "*Fixes (1)*",
                "• <https://pr/13|PR 13> fix: typo",
                "*Tickets (2)*"
            ]
        );
        assert_eq!(
            lines[6],
            "• <https://jira.example/browse/ALLPOST-1|ALLPOST-1> Login page"
        );
        assert_eq!(lines[7], "• `ALLPOST-2`");
        assert!(lines[8].starts_with("Release PR: <https://dev.azure.com/"));
        assert!(
            lines[10].starts_with("• approved Production by <@U0ANN> on "),
            "{}",
            lines[10]
        );
    }
}

mod release_report {
    use crate::domain::Version;
    use crate::slack::mrkdwn;
    use crate::store::{ArchivedRelease, Rollback, StagingRelease};
    use crate::workflow::release::report::{history, status};
    use chrono::Utc;

    fn staged(repo: &str) -> StagingRelease {
        StagingRelease {
            repo: repo.into(),
            version: Version::new(1, 4, 3),
            started_at: Utc::now(),
            tickets: (1..=7).map(|i| format!("A-{i}")).collect(),
            prs: Vec::new(),
        }
    }

    #[test]
    fn status_groups_by_repository_and_says_when_there_is_nothing() {
        let text = mrkdwn::lines(
            &status(&[staged("Billo.Web"), staged("Billo.Api")], &[], &[], &[]).lines,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*Billo.Api*");
        assert!(
            lines[1].starts_with(
                "• staging 1.4.3: 0 PRs, 7 tickets (A-1, A-2, A-3, A-4, A-5 and 2 more), open since <!date^"
            ),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "*Billo.Web*");
        let empty = mrkdwn::lines(&status(&[], &[], &[], &[]).lines);
        assert!(empty.starts_with("Nothing is staged"), "{empty}");
    }

    #[test]
    fn history_lists_the_newest_versions_first_and_cuts_long_lists() {
        let archived: Vec<ArchivedRelease> = (0..25)
            .rev()
            .map(|patch| ArchivedRelease {
                repo: "Billo.Api".into(),
                version: Version::new(1, 0, patch),
                started_at: Utc::now(),
                tickets: vec!["A-1".into()],
                prs: Vec::new(),
                released_at: Utc::now(),
                cd: None,
                hotfix: None,
            })
            .collect();
        let text = mrkdwn::lines(&history("Billo.Api", &archived, &[]).lines);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*Billo.Api: released versions, newest first*");
        assert!(lines[1].starts_with("• 1.0.24 on "), "{}", lines[1]);
        assert_eq!(lines.last().unwrap(), &"…and 5 older ones.");
        let rollback = Rollback {
            run_id: "r".into(),
            repo: "Billo.Api".into(),
            version: Version::new(1, 0, 23),
            left: Version::new(1, 0, 24),
            stages: vec!["Sandbox".into(), "Production".into()],
            by: "U0ADA".into(),
            at: Utc::now(),
        };
        let text = mrkdwn::lines(&history("Billo.Api", &archived[..1], &[rollback]).lines);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "*Rollbacks, newest first*");
        assert!(
            lines[3].starts_with("• back to 1.0.23 from 1.0.24 on ")
                && lines[3].ends_with(" by <@U0ADA>: Sandbox, Production"),
            "{}",
            lines[3]
        );
        let none = mrkdwn::lines(&history("Billo.Api", &[], &[]).lines);
        assert_eq!(none, "Billo.Api has no released versions yet.");
    }
}

mod freeze_text {
    use chrono::TimeZone;

    use crate::store::Freeze;
    use crate::workflow::freeze::refusal;

    #[test]
    fn a_freeze_names_who_when_and_why_with_the_reason_escaped() {
        let freeze = Freeze {
            repo: "Billo.Api".into(),
            reason: "payment <!channel> outage".into(),
            frozen_by: "U0ANN".into(),
            frozen_at: chrono::Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap(),
        };
        let text = crate::slack::mrkdwn::lines(&[refusal(&freeze)]);
        assert!(
            text.starts_with(":ice_cube: *Billo.Api* is frozen by <@U0ANN> since <!date^"),
            "{text}"
        );
        assert!(
            text.contains(": payment &lt;!channel&gt; outage. Nothing changed; `/release unfreeze Billo.Api` lifts the freeze."),
            "{text}"
        );
    }
}
