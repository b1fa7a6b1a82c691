use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::domain::{ApprovalId, ApprovalOption, OptionName, RepoName, RunId};

fn run(status: RunStatus, outcome: Option<&str>) -> RunRecord {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    RunRecord {
        id: RunId::parse("0b5d6c1e-1111-4222-8333-444455556666").unwrap(),
        kind: "pr".into(),
        repo: RepoName::parse("Billo.Api").ok(),
        pr_id: Some(12),
        subject: "Billo.Api#12".into(),
        step: "ask".into(),
        state: json!({"step": "ask"}),
        status,
        seq: 2,
        attempts: 1,
        polls: 0,
        wake_at: None,
        lease_owner: None,
        lease_until: None,
        decision: None,
        outcome: outcome.map(str::to_owned),
        channel_id: "C1".into(),
        card_ts: None,
        card_version: 3,
        card_synced: 2,
        started_by: "U0STARTER".into(),
        created_at: at,
        updated_at: at,
    }
}

fn approval(status: ApprovalStatus) -> ApprovalRecord {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    ApprovalRecord {
        id: ApprovalId::parse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee").unwrap(),
        run_id: RunId::new(),
        point: "merge".into(),
        decides: crate::domain::Decides::Merge,
        author: None,
        deciders: None,
        required: 1,
        prompt: "Merge Billo.Api#12 into develop?".into(),
        options: vec![
            ApprovalOption {
                name: OptionName::parse("merge").unwrap(),
                label: "Merge".into(),
                style: OptionStyle::Primary,
            },
            ApprovalOption {
                name: OptionName::parse("cancel").unwrap(),
                label: "Cancel".into(),
                style: OptionStyle::Destructive {
                    confirm: "Cancel this run? The PR stays open.".into(),
                },
            },
        ],
        status,
        decided_option: Some("merge".into()),
        decided_by: Some("U0DECIDER".into()),
        decided_at: Some(at),
        expires_at: at + chrono::TimeDelta::hours(168),
        created_at: at,
    }
}

fn view() -> CardView {
    CardView {
        title: "Review of Billo.Api#12 <script>".into(),
        lines: vec![Line::new().plain("Branch ").code("feature/ALLPOST-1_x")],
    }
}

fn json_of(content: &SlackMessageContent) -> Value {
    serde_json::to_value(content).unwrap()
}

#[test]
fn a_waiting_card_shows_the_prompt_and_both_buttons() {
    let run = run(RunStatus::Waiting, None);
    let approvals = [approval(ApprovalStatus::Pending)];
    let content = card(&CardModel {
        run: &run,
        view: Some(view()),
        approvals: &approvals,
        voters: &[],
    });
    let expected = json!({
        "text": "Review of Billo.Api#12 <script>: waiting for a decision",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": ":raised_hand: Review of Billo.Api#12 <script>"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "Branch `feature/ALLPOST-1_x`"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Waiting for a decision*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text":
                "*Merge Billo.Api#12 into develop?* (open until <!date^1796032800^{date_short_pretty} at {time}|2026-11-30 10:00 UTC>)"}},
            {"type": "actions", "block_id": "approval:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "elements": [
                {"type": "button", "action_id": "decide:merge", "text": {"type": "plain_text", "text": "Merge"},
                 "value": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee:merge", "style": "primary"},
                {"type": "button", "action_id": "decide:cancel", "text": {"type": "plain_text", "text": "Cancel"},
                 "value": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee:cancel", "style": "danger",
                 "confirm": {
                    "title": {"type": "plain_text", "text": "Are you sure?"},
                    "text": {"type": "plain_text", "text": "Cancel this run? The PR stays open."},
                    "confirm": {"type": "plain_text", "text": "Cancel"},
                    "deny": {"type": "plain_text", "text": "Go back"},
                    "style": "danger"}}
            ]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
                "pr run `0b5d6c1e` · started by <@U0STARTER> · <!date^1795428000^{date_short_pretty} at {time}|2026-11-23 10:00 UTC>"}]}
        ]
    });
    assert_eq!(json_of(&content), expected);
}

#[test]
fn after_a_decision_the_card_names_who_chose_and_has_no_buttons() {
    let run = run(RunStatus::Running, None);
    let approvals = [approval(ApprovalStatus::Decided)];
    let content = json_of(&card(&CardModel {
        run: &run,
        view: Some(view()),
        approvals: &approvals,
        voters: &[],
    }));
    let text = content.to_string();
    assert!(
        text.contains("*Merge* chosen by <@U0DECIDER> on <!date^1795428000"),
        "{text}"
    );
    assert!(!text.contains("\"actions\""), "{text}");
}

#[test]
fn failed_and_cancelled_cards_carry_the_reason_escaped() {
    let failed = run(RunStatus::Failed, Some("Azure DevOps said <nope> & quit"));
    let text = json_of(&card(&CardModel {
        run: &failed,
        view: None,
        approvals: &[],
        voters: &[],
    }))
    .to_string();
    assert!(text.contains(":x: Billo.Api#12"), "{text}");
    assert!(
        text.contains("*Failed* at `ask`: Azure DevOps said &lt;nope&gt; &amp; quit"),
        "{text}"
    );

    let cancelled = run(RunStatus::Cancelled, Some("approval expired"));
    let approvals = [approval(ApprovalStatus::Expired)];
    let text = json_of(&card(&CardModel {
        run: &cancelled,
        view: None,
        approvals: &approvals,
        voters: &[],
    }))
    .to_string();
    assert!(text.contains("*Cancelled:* approval expired"), "{text}");
    assert!(text.contains("expired on"), "{text}");
}

#[test]
fn huge_inputs_stay_within_block_kit_limits() {
    let mut running = run(RunStatus::Running, None);
    running.subject = "x".repeat(500);
    let lines: Vec<Line> = (0..400)
        .map(|i| Line::new().plain(format!("finding {i}: {}", "y".repeat(90))))
        .collect();
    let content = json_of(&card(&CardModel {
        run: &running,
        view: Some(CardView {
            title: "t".repeat(300),
            lines: lines.clone(),
        }),
        approvals: &[],
        voters: &[],
    }));
    check_limits(&content);

    let parts = message(&Message::new(lines));
    assert!(
        parts.len() > 1,
        "a long reply is split into several messages"
    );
    for part in &parts {
        check_limits(&json_of(part));
    }
    let all: String = parts.iter().map(|p| json_of(p).to_string()).collect();
    assert!(
        all.contains("finding 0:") && all.contains("finding 399:"),
        "nothing is lost when splitting"
    );
}

fn check_limits(content: &Value) {
    let blocks = content["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    let mut total = 0;
    for block in blocks {
        if block["type"] == "header" {
            assert!(block["text"]["text"].as_str().unwrap().chars().count() <= 150);
        }
        if let Some(text) = block["text"]["text"].as_str() {
            assert!(text.chars().count() <= 3000);
            total += text.chars().count();
        }
    }
    assert!(total <= 12_000, "{total}");
    assert!(content["text"].as_str().unwrap().chars().count() <= 3000);
}
