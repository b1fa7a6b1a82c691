//! Releases through a YAML multi-stage pipeline (REPOS_CONFIG `cd = "yaml"`): the CI build's own
//! run builds, then deploys to Sandbox and Production behind environment approvals. The bot
//! asks in Slack, PATCHes each decision to `pipelines/approvals` once, says when Azure DevOps
//! wants more approvers than the bot's account, retries a failed stage through the stages API,
//! and a rejection ends the release; a rollback reruns an earlier run's stages. In the PR flow, a CI run of develop that deploys waits for
//! its approvals with the same buttons, and that wait never counts as CI time.

use chrono::TimeDelta;
use release_agent::domain::RunStatus;

use crate::on_both_backends;
use crate::pr_flow::{World, merged_with_build, world};
use crate::release_flow::release_world_on;
use crate::support::fake_azdo::FakeAzdo;
use crate::support::fake_yaml::{CD_PIPELINE, YamlStagePlan};
use crate::support::{Backend, FIRST, wait_until};
use release_agent::store::StagedPr;

/// The release world with Billo.Api deployed by its CI pipeline's own YAML run: Sandbox (one
/// approver) and then Production (as planned by `production`).
async fn yaml_world(
    backend: Backend,
    sandbox: YamlStagePlan,
    production: YamlStagePlan,
) -> Option<(World, tempfile::NamedTempFile)> {
    yaml_world_on(backend, FakeAzdo::start().await, sandbox, production).await
}

/// [`yaml_world`] against an Azure DevOps the test prepared.
async fn yaml_world_on(
    backend: Backend,
    azdo: FakeAzdo,
    sandbox: YamlStagePlan,
    production: YamlStagePlan,
) -> Option<(World, tempfile::NamedTempFile)> {
    let separate = azdo.with(|s| s.yaml.separate);
    let config = tempfile::NamedTempFile::new().unwrap();
    let mut text = "[repos.\"Billo.Api\"]\ncd = \"yaml\"\n".to_owned();
    if separate {
        text.push_str(&format!("cd_pipeline = \"{}\"\n", CD_PIPELINE.1));
    }
    std::fs::write(config.path(), text).unwrap();
    let path = config.path().display().to_string();
    let w = release_world_on(backend, &[("REPOS_CONFIG", path.as_str())], azdo).await?;
    w.azdo.with_mut(|state| {
        state.cd.plan.clear();
        state.yaml.plan = vec![sandbox, production];
    });
    Some((w, config))
}

async fn a_yaml_release_asks_for_each_environment_retries_a_failed_stage_and_waits_for_a_second_approver(
    backend: Backend,
) {
    let sandbox = YamlStagePlan {
        failures: 1,
        ..YamlStagePlan::approved("Sandbox")
    };
    let production = YamlStagePlan {
        approvers: 2,
        ..YamlStagePlan::approved("Production")
    };
    let Some((w, _config)) = yaml_world(backend, sandbox, production).await else {
        return;
    };
    let run = w.to_first_stage().await;
    let card = w.card(run).await;
    assert!(
        card.contains(
            "|pipeline run 2026.900> · Sandbox waiting for approval · Production not started"
        ),
        "the run, its build stage not counted as a deployment: {card}"
    );
    assert!(card.ends_with("[Approve Sandbox] [Reject]"), "{card}");

    w.press(run, "approve").await;
    let failed = w.app.finished(run).await;
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(
        failed.outcome.as_deref(),
        Some(
            "the Sandbox stage of pipeline run 2026.900 failed in Azure DevOps; Retry reruns its failed jobs"
        )
    );
    let card = w.card(run).await;
    assert!(card.ends_with("[Retry Sandbox]"), "{card}");

    w.press(run, "retry").await;
    w.waits_at(run, "ask_stage").await;
    assert_eq!(
        w.azdo.with(|s| s.yaml.retries.clone()),
        [(900, "sandbox".to_owned())],
        "the stage was retried once, by its identifier"
    );
    let card = w.card(run).await;
    assert!(
        card.contains(
            "Azure DevOps asks for 2 approvers of Production: the bot's account counts as one, \
             and the others approve in Azure DevOps."
        ),
        "{card}"
    );
    assert!(card.ends_with("[Approve Production] [Reject]"), "{card}");

    w.press(run, "approve").await;
    wait_until("the bot's approval of Production", || async {
        (w.azdo.with(|s| s.yaml.decisions.len()) == 2).then_some(())
    })
    .await;
    let waiting = w.app.run(run).await;
    assert_ne!(
        waiting.status,
        RunStatus::Done,
        "Azure DevOps still waits for a second approver"
    );
    w.azdo.approve_yaml_by_hand("Production", ("u-ann", "Ann"));
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.outcome);

    let decisions = w.azdo.with(|s| s.yaml.decisions.clone());
    assert_eq!(decisions.len(), 2, "one approval PATCH per stage");
    assert_ne!(decisions[0].0, decisions[1].0);
    assert!(decisions.iter().all(|(_, status, _)| status == "approved"));
    assert!(
        decisions[1]
            .2
            .starts_with("Approved in Slack by @someone (U0ADA) via release-agent"),
        "{}",
        decisions[1].2
    );
    assert_eq!(
        ["ALLPOST-1", "ALLPOST-2", "ALLPOST-3"].map(|key| w.jira.status(key)),
        ["Done", "Done", "Done"]
    );
    let replies = w.replies(run).await;
    assert!(
        replies
            .iter()
            .any(|r| r.starts_with(":rocket: *Released Billo.Api 1.4.3*")),
        "{replies:?}"
    );
    assert!(
        !w.azdo
            .with(|s| s.requests.iter().any(|r| r.contains("/_apis/release/"))),
        "no classic release was looked for"
    );
    w.app.finish().await;
}

async fn rejecting_a_yaml_stage_ends_the_release_there(backend: Backend) {
    let production = YamlStagePlan::approved("Production");
    let Some((w, _config)) =
        yaml_world(backend, YamlStagePlan::approved("Sandbox"), production).await
    else {
        return;
    };
    let run = w.to_first_stage().await;
    w.press(run, "reject").await;
    let ended = w.app.finished(run).await;
    assert_eq!(ended.status, RunStatus::Cancelled);
    let reason = ended.outcome.unwrap_or_default();
    assert!(
        reason.starts_with(
            "Sandbox was rejected in Slack by @someone (U0ADA): Azure DevOps fails pipeline run \
             2026.900 there"
        ),
        "{reason}"
    );
    let decisions = w.azdo.with(|s| s.yaml.decisions.clone());
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].1, "rejected");
    let production = w.azdo.with(|s| s.builds[0].yaml[1].result);
    assert_eq!(
        production,
        Some("skipped"),
        "nothing after Sandbox deployed"
    );
    assert_eq!(w.jira.status("ALLPOST-1"), "Ready for QA");
    assert!(w.app.store.shipping("Billo.Api").await.unwrap().is_some());
    w.app.finish().await;
}

/// With `cd_pipeline`, the run that deploys is the CD pipeline's, which the CI build triggered.
async fn a_separate_cd_pipeline_triggered_by_the_ci_build_deploys_the_release(backend: Backend) {
    let azdo = FakeAzdo::start().await;
    azdo.with_mut(|s| s.yaml.separate = true);
    let (sandbox, production) = (
        YamlStagePlan::approved("Sandbox"),
        YamlStagePlan::approved("Production"),
    );
    let Some((w, _config)) = yaml_world_on(backend, azdo, sandbox, production).await else {
        return;
    };
    let run = w.to_first_stage().await;
    let card = w.card(run).await;
    assert!(
        card.contains(
            "|pipeline run 2026.901> · Sandbox waiting for approval · Production not started"
        ),
        "the CD pipeline's run, without a build stage: {card}"
    );
    w.press(run, "approve").await;
    w.waits_at(run, "ask_stage").await;
    w.press(run, "approve").await;
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.outcome);
    let builds = w.azdo.with(|s| s.builds.clone());
    assert_eq!(
        builds
            .iter()
            .map(|b| (b.definition, b.triggered_by))
            .collect::<Vec<_>>(),
        [(7, None), (CD_PIPELINE.0, Some(900))],
        "one CI build, one CD run it triggered"
    );
    assert_eq!(w.azdo.with(|s| s.yaml.decisions.len()), 2);
    w.app.finish().await;
}

/// A stage held by another check (business hours) shows it by name and waits; once it passes,
/// the next approval is asked.
async fn a_stage_held_by_another_check_names_it_and_waits(backend: Backend) {
    let sandbox = YamlStagePlan {
        approvers: 0,
        check: Some("Business hours"),
        ..YamlStagePlan::approved("Sandbox")
    };
    let production = YamlStagePlan::approved("Production");
    let Some((w, _config)) = yaml_world(backend, sandbox, production).await else {
        return;
    };
    let run = w.to_merge_question().await;
    w.press(run, "merge").await;
    let shows = "· Sandbox waiting for Business hours · Production not started";
    wait_until("the card to name the check", || async {
        w.card(run).await.contains(shows).then_some(())
    })
    .await;
    assert_eq!(
        w.azdo.with(|s| s.yaml.decisions.len()),
        0,
        "nobody is asked"
    );
    w.azdo.pass_check("Sandbox");
    w.waits_at(run, "ask_stage").await;
    assert!(w.card(run).await.ends_with("[Approve Production] [Reject]"));
    w.press(run, "approve").await;
    assert_eq!(w.app.finished(run).await.status, RunStatus::Done);
    w.app.finish().await;
}

/// Azure DevOps Server 2020 (6.0) and 2022 (7.0): the approvals API is called at the preview of
/// the server's version, the stages API too before 7.0, and the release ships.
async fn a_yaml_release_runs_against_azure_devops_server(backend: Backend) {
    for version in ["6.0", "7.0"] {
        let azdo = FakeAzdo::start().await;
        azdo.with_mut(|s| s.server_version = Some(version));
        let sandbox = YamlStagePlan {
            failures: 1,
            ..YamlStagePlan::approved("Sandbox")
        };
        let production = YamlStagePlan::approved("Production");
        let Some((w, _config)) = yaml_world_on(backend, azdo, sandbox, production).await else {
            return;
        };
        let run = w.to_first_stage().await;
        w.press(run, "approve").await;
        assert_eq!(w.app.finished(run).await.status, RunStatus::Failed);
        w.press(run, "retry").await;
        w.waits_at(run, "ask_stage").await;
        w.press(run, "approve").await;
        let done = w.app.finished(run).await;
        assert_eq!(
            done.status,
            RunStatus::Done,
            "{version}: {:?}",
            done.outcome
        );
        let requests = w.azdo.with(|s| s.requests.clone());
        let calls = |part: &str| -> Vec<String> {
            requests
                .iter()
                .filter(|r| r.contains(part))
                .cloned()
                .collect()
        };
        let approvals = calls("/pipelines/approvals");
        assert!(
            approvals.len() >= 2
                && approvals
                    .iter()
                    .all(|r| r.contains(&format!("api-version={version}-preview"))),
            "{version}: {approvals:?}"
        );
        let retry = calls("/stages/sandbox");
        let expected = if version == "6.0" {
            "6.0-preview"
        } else {
            "7.0"
        };
        assert_eq!(retry.len(), 1, "{retry:?}");
        assert!(
            retry[0].ends_with(&format!("api-version={expected}")),
            "{retry:?}"
        );
        w.app.finish().await;
    }
}

async fn a_ci_run_that_waits_for_an_approval_asks_for_it_without_counting_the_wait(
    backend: Backend,
) {
    let vars = [
        ("CI_AUTO_TRIGGER", "true"),
        ("CI_POLL_MAX_WAIT_SECONDS", "30"),
    ];
    let Some(w) = world(backend, &vars).await else {
        return;
    };
    w.azdo.with_mut(|state| {
        state.cd.branch = "develop".into();
        state.yaml.plan = vec![
            YamlStagePlan::approved("Dev"),
            YamlStagePlan {
                approvers: 2,
                ..YamlStagePlan::approved("QA")
            },
        ];
    });
    let run = merged_with_build(&w, "succeeded").await;
    w.waits_at(run, "ask_ci_stage").await;
    let card = w.card(run).await;
    assert!(
        card.contains("CI build 2026.900 waits for the approval of Dev. Approve it?"),
        "{card}"
    );
    assert!(card.ends_with("[Approve Dev] [Reject]"), "{card}");
    w.app.clock.advance(TimeDelta::hours(2));
    w.press(run, "approve").await;
    w.waits_at(run, "ask_ci_stage").await;
    let card = w.card(run).await;
    assert!(
        card.contains("Azure DevOps asks for 2 approvers of QA"),
        "{card}"
    );
    w.press(run, "approve").await;
    w.app
        .wait_for_run(run, "the run to wait for QA's second approver", |r| {
            r.step == "ci_held"
        })
        .await;
    let card = w.card(run).await;
    assert!(
        card.contains(
            "The CI run waits in Azure DevOps: QA waits for more approvers in Azure DevOps (it \
             asks for 2; the bot's account approved as one). This wait does not count as CI time."
        ),
        "{card}"
    );
    w.app.clock.advance(TimeDelta::hours(2));
    w.azdo.approve_yaml_by_hand("QA", ("u-ann", "Ann"));
    let done = w.app.finished(run).await;
    assert_eq!(
        done.status,
        RunStatus::Done,
        "four hours of approvals are not CI time: {:?}",
        done.outcome
    );
    let decisions = w.azdo.with(|s| s.yaml.decisions.clone());
    assert_eq!(decisions.len(), 2, "one approval PATCH per stage");
    assert!(
        decisions[0]
            .2
            .starts_with("Approved in Slack by @someone (U0ADA) via release-agent"),
        "{}",
        decisions[0].2
    );
    let replies = w.replies(run).await;
    assert!(
        replies
            .iter()
            .any(|r| r == "QA approved in Azure DevOps for @someone (U0ADA); watching the CI run."),
        "{replies:?}"
    );
    w.app.finish().await;
}

/// Two YAML releases, then `/release rollback`: the first release's run has its stages rerun
/// (every job), each asked about and then approved through its environment approval; Production
/// follows Sandbox's rerun on its own, so only Sandbox is rerun through the stages API.
async fn a_yaml_rollback_reruns_the_earlier_runs_stages_through_their_approvals(backend: Backend) {
    let Some((w, _config)) = yaml_world(
        backend,
        YamlStagePlan::approved("Sandbox"),
        YamlStagePlan::approved("Production"),
    )
    .await
    else {
        return;
    };
    w.release("Billo.Api").await;
    let first = w.release_run().await;
    w.ship(first).await;
    let pr = StagedPr::merged(31, "fix: retry the upload", "", &[]);
    w.app
        .store
        .stage_pr("Billo.Api", pr, &[], &FIRST, chrono::Utc::now())
        .await
        .unwrap();
    // develop moved on: the second release PR merges another commit.
    w.azdo.with_mut(|s| {
        s.heads.insert(
            "develop".into(),
            "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1".into(),
        )
    });
    w.release("Billo.Api").await;
    let second = w.release_run().await;
    w.ship(second).await;
    let archived = w.app.store.archived("Billo.Api").await.unwrap();
    assert_eq!(archived[0].version.to_string(), "1.4.4");
    let first_run = archived[1].cd.clone().expect("the YAML run is archived").id;
    let decided = w.azdo.with(|s| s.yaml.decisions.len());

    let ack = w.release("rollback Billo.Api").await;
    assert!(
        ack.starts_with("Rolling back Billo.Api from 1.4.4 to 1.4.3."),
        "{ack}"
    );
    let run = w.release_run().await;
    for _ in ["Sandbox", "Production"] {
        w.waits_at(run, "ask_redeploy").await;
        w.press(run, "approve").await;
        w.waits_at(run, "ask_stage").await;
        w.press(run, "approve").await;
    }
    let done = w.app.finished(run).await;
    assert_eq!(done.status, RunStatus::Done, "{:?}", done.outcome);
    assert_eq!(
        w.azdo.with(|s| s.yaml.retries.clone()),
        [(first_run, "sandbox".to_owned())],
        "Sandbox rerun once in the first release's run; Production followed it"
    );
    assert_eq!(
        w.azdo.with(|s| s.yaml.decisions.len()),
        decided + 2,
        "each environment approved again"
    );
    let rollbacks = w.app.store.rollbacks("Billo.Api").await.unwrap();
    assert_eq!(rollbacks[0].stages, ["Sandbox", "Production"]);
    w.app.finish().await;
}

on_both_backends!(
    a_yaml_rollback_reruns_the_earlier_runs_stages_through_their_approvals,
    a_stage_held_by_another_check_names_it_and_waits,
    a_separate_cd_pipeline_triggered_by_the_ci_build_deploys_the_release,
    a_yaml_release_runs_against_azure_devops_server,
    a_ci_run_that_waits_for_an_approval_asks_for_it_without_counting_the_wait,
    a_yaml_release_asks_for_each_environment_retries_a_failed_stage_and_waits_for_a_second_approver,
    rejecting_a_yaml_stage_ends_the_release_there,
);
