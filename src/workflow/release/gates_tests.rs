//! The approval loop's decisions, for classic releases and YAML runs.

use super::*;

fn stage(name: &str, rank: i64, status: StageStatus) -> Stage {
    Stage {
        id: rank * 10,
        name: name.into(),
        rank,
        status,
        waiting: None,
        last_operation: None,
        approvers: Vec::new(),
        ref_name: None,
    }
}

fn approval(id: i64) -> Wait {
    Wait::Approval(vec![PendingApproval {
        id: ApprovalId::from(id),
        approvers: vec![crate::azdo::ApproverRef {
            id: String::new(),
            name: "Release Managers".into(),
            email: None,
            is_group: true,
        }],
        post_deploy: false,
        required: 1,
        approved_by: Vec::new(),
    }])
}

fn pipeline(sandbox: Stage, production: Stage) -> Vec<Stage> {
    vec![production, sandbox]
}

#[test]
fn the_first_stage_that_waits_for_people_is_asked_about() {
    let mut sandbox = stage("Sandbox", 1, StageStatus::NotStarted);
    sandbox.waiting = Some(approval(5));
    let stages = pipeline(sandbox, stage("Production", 2, StageStatus::NotStarted));
    let order = ordered(&stages, &[]).unwrap();
    assert!(matches!(
        next(&order, &[], &[]),
        Gate::Ask { ref stage, ref approvals, post_deploy: false } if stage == "Sandbox" && approvals[0].id.as_str() == "5"
    ));
}

#[test]
fn deployed_stages_lead_to_the_next_and_finally_to_done() {
    let mut production = stage("Production", 2, StageStatus::InProgress);
    let stages = pipeline(
        stage("Sandbox", 1, StageStatus::Succeeded),
        production.clone(),
    );
    let order = ordered(&stages, &[]).unwrap();
    assert_eq!(
        next(&order, &[], &[]),
        Gate::Wait {
            what: "Production is deploying".into()
        }
    );
    production.status = StageStatus::Succeeded;
    let stages = pipeline(stage("Sandbox", 1, StageStatus::Succeeded), production);
    assert_eq!(
        next(&ordered(&stages, &[]).unwrap(), &[], &[]),
        Gate::Deployed
    );
}

#[test]
fn after_a_skipped_stage_the_bot_starts_the_next() {
    let mut sandbox = stage("Sandbox", 1, StageStatus::NotStarted);
    sandbox.waiting = Some(approval(5));
    let stages = pipeline(sandbox, stage("Production", 2, StageStatus::NotStarted));
    let order = ordered(&stages, &[]).unwrap();
    let skipped = vec!["sandbox".to_owned()];
    assert_eq!(
        next(&order, &skipped, &[]),
        Gate::Start {
            stage: "Production".into(),
            stage_id: 20
        }
    );
    let seen = seen(&order, &skipped);
    assert_eq!(
        (seen[0].state.as_str(), seen[1].state.as_str()),
        ("skipped", "not started")
    );
    let all = vec!["Sandbox".to_owned(), "Production".to_owned()];
    assert_eq!(
        next(&order, &all, &[]),
        Gate::LastSkipped {
            stage: "Production".into()
        }
    );
}

#[test]
fn a_rejection_and_a_failed_deployment_are_told_apart() {
    let mut production = stage("Production", 2, StageStatus::Rejected);
    production.last_operation = Some("rejected".into());
    let stages = pipeline(
        stage("Sandbox", 1, StageStatus::Succeeded),
        production.clone(),
    );
    assert_eq!(
        next(&ordered(&stages, &[]).unwrap(), &[], &[]),
        Gate::Stopped {
            stage: "Production".into(),
            reason: "Production was rejected in Azure DevOps".into()
        }
    );
    production.last_operation = Some("phaseFailed".into());
    let stages = pipeline(stage("Sandbox", 1, StageStatus::Succeeded), production);
    assert!(matches!(
        next(&ordered(&stages, &[]).unwrap(), &[], &[]),
        Gate::Stopped { ref reason, .. } if reason == "the deployment to Production failed (phaseFailed)"
    ));
}

#[test]
fn the_configured_order_wins_and_unknown_names_are_explained() {
    let stages = pipeline(
        stage("Sandbox", 1, StageStatus::Succeeded),
        stage("Production", 2, StageStatus::NotStarted),
    );
    let order = ordered(&stages, &["production".into(), "sandbox".into()]).unwrap();
    assert_eq!(order[0].name, "Production");
    let missing = ordered(&stages, &["Staging".into()]).unwrap_err();
    assert_eq!(
        missing,
        "REPOS_CONFIG names the stage `Staging`, but the CD release has only Production, Sandbox"
    );
}

#[test]
fn yaml_stages_wait_for_other_approvers_and_checks_and_fail_with_a_retry() {
    let mut production = stage("Production", 2, StageStatus::NotStarted);
    let Wait::Approval(mut approvals) = approval(9) else {
        unreachable!()
    };
    approvals[0].required = 2;
    production.waiting = Some(Wait::Approval(approvals));
    let stages = pipeline(stage("Sandbox", 1, StageStatus::Succeeded), production);
    let order = ordered(&stages, &[]).unwrap();
    assert!(matches!(next(&order, &[], &[]), Gate::Ask { .. }));
    assert_eq!(
        next(&order, &[], &[ApprovalId::from(9)]),
        Gate::Wait {
            what: "Production waits for more approvers in Azure DevOps (it asks for 2; the \
                   bot's account approved as one)"
                .into()
        }
    );
    let mut checked = stage("Production", 2, StageStatus::NotStarted);
    checked.waiting = Some(Wait::Checks(vec!["Business hours".into()]));
    let stages = pipeline(stage("Sandbox", 1, StageStatus::Failed), checked);
    let order = ordered(&stages, &[]).unwrap();
    assert_eq!(
        next(&order, &[], &[]),
        Gate::Failed {
            stage: "Sandbox".into(),
            ref_name: "Sandbox".into()
        }
    );
    let stages = pipeline(
        stage("Sandbox", 1, StageStatus::Succeeded),
        stages[0].clone(),
    );
    assert_eq!(
        next(&ordered(&stages, &[]).unwrap(), &[], &[]),
        Gate::Wait {
            what: "Production waits for checks in Azure DevOps: Business hours".into()
        }
    );
    let seen = seen(&ordered(&stages, &[]).unwrap(), &[]);
    assert_eq!(seen[1].state, "waiting for Business hours");
}

#[test]
fn a_yaml_stage_azure_devops_skipped_is_passed_unless_it_is_the_last() {
    let stages = pipeline(
        stage("Sandbox", 1, StageStatus::Skipped),
        stage("Production", 2, StageStatus::Succeeded),
    );
    assert_eq!(
        next(&ordered(&stages, &[]).unwrap(), &[], &[]),
        Gate::Deployed
    );
    let stages = pipeline(
        stage("Sandbox", 1, StageStatus::Succeeded),
        stage("Production", 2, StageStatus::Skipped),
    );
    assert!(matches!(
        next(&ordered(&stages, &[]).unwrap(), &[], &[]),
        Gate::Stopped { ref reason, .. } if reason.starts_with("Azure DevOps skipped Production")
    ));
    let build = build_stages(&stages, &[]);
    assert_eq!(build[0].name, "Sandbox", "the first stage builds");
    let build = build_stages(&stages, &["production".into()]);
    assert_eq!(build[0].name, "Sandbox", "the stages not configured build");
}
