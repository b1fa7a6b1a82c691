//! Block Kit renderers: pure functions from a view of a run (or a message) to Slack content, kept
//! inside Slack's limits (section text ≤ 3000 characters, header ≤ 150, button text ≤ 75, confirm
//! text ≤ 300, ≤ 50 blocks, and about 12,000 characters of text per message).

use slack_morphism::prelude::*;

mod home;

pub use home::{HomeModel, Waiting, home};

use super::actions;
use super::mrkdwn;
use crate::domain::{ApprovalStatus, Decides, Line, Message, OptionStyle, RunStatus, Voter};
use crate::store::{ApprovalRecord, RunRecord};
use crate::workflow::CardView;

const SECTION_MAX: usize = 3000;
const HEADER_MAX: usize = 150;
const BUTTON_MAX: usize = 75;
const CONFIRM_TEXT_MAX: usize = 300;
const FALLBACK_MAX: usize = 3000;
/// Slack rejects messages whose blocks hold much more than ~12k characters in all.
const MESSAGE_TEXT_BUDGET: usize = 11_000;
const MESSAGE_BLOCKS_MAX: usize = 45;
/// The flow's own lines on a card; the rest of the card needs the remainder of the budget.
const CARD_VIEW_BUDGET: usize = 6_000;

/// Everything a card shows: the run, what its flow says about its state, and its approvals.
pub struct CardModel<'a> {
    pub run: &'a RunRecord,
    pub view: Option<CardView>,
    pub approvals: &'a [ApprovalRecord],
    /// Who approved the pending approval so far, when it needs several people.
    pub voters: &'a [Voter],
}

pub fn card(model: &CardModel<'_>) -> SlackMessageContent {
    let run = model.run;
    let title = model
        .view
        .as_ref()
        .map_or_else(|| run.subject.clone(), |v| v.title.clone());
    let (emoji, status) = status_text(run);
    let mut blocks = vec![header(&format!("{emoji} {title}"))];
    if let Some(view) = &model.view {
        blocks.extend(sections_within(&view.lines, CARD_VIEW_BUDGET));
    }
    blocks.push(section(&status));
    let history: Vec<Line> = model.approvals.iter().filter_map(history_line).collect();
    blocks.extend(sections(&history));
    // A failed run may offer a retry; finished runs otherwise have no buttons.
    let pending = model.approvals.iter().find(|a| {
        a.status == ApprovalStatus::Pending
            && matches!(run.status, RunStatus::Waiting | RunStatus::Failed)
    });
    if let Some(approval) = pending {
        blocks.extend(sections(&[prompt_line(approval)]));
        if let Some(progress) = progress_line(approval, model.voters) {
            blocks.extend(sections(&[progress]));
        }
        blocks.push(buttons(approval));
    }
    blocks.push(context(run));
    let fallback = mrkdwn::truncate(
        &format!("{title}: {}", status_word(run.status)),
        FALLBACK_MAX,
    );
    SlackMessageContent::new()
        .with_text(fallback)
        .with_blocks(blocks)
}

/// A message as one or more Slack messages, each within the size limits, in order.
pub fn message(message: &Message) -> Vec<SlackMessageContent> {
    let fallback = message.lines.first().map(mrkdwn::plain).unwrap_or_default();
    let mut out = Vec::new();
    let mut blocks = Vec::new();
    let mut used = 0;
    for chunk in chunks(&mrkdwn::lines(&message.lines)) {
        if !blocks.is_empty()
            && (used + chunk.len() > MESSAGE_TEXT_BUDGET || blocks.len() == MESSAGE_BLOCKS_MAX)
        {
            out.push(content(&fallback, std::mem::take(&mut blocks)));
            used = 0;
        }
        used += chunk.len();
        blocks.push(section(&chunk));
    }
    if !blocks.is_empty() || out.is_empty() {
        out.push(content(&fallback, blocks));
    }
    out
}

/// A short ephemeral or ack message in mrkdwn the caller has already made safe.
pub fn text(mrkdwn_text: &str) -> SlackMessageContent {
    let blocks = chunks(mrkdwn_text).iter().map(|c| section(c)).collect();
    content(mrkdwn_text, blocks)
}

fn content(fallback: &str, blocks: Vec<SlackBlock>) -> SlackMessageContent {
    let fallback = mrkdwn::truncate(fallback, FALLBACK_MAX);
    let content = SlackMessageContent::new().with_text(if fallback.is_empty() {
        " ".into()
    } else {
        fallback
    });
    if blocks.is_empty() {
        content
    } else {
        content.with_blocks(blocks)
    }
}

fn status_word(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "in progress",
        RunStatus::Waiting => "waiting for a decision",
        RunStatus::Done => "done",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    }
}

fn status_text(run: &RunRecord) -> (&'static str, String) {
    let reason = run
        .outcome
        .as_deref()
        .map(mrkdwn::escape)
        .unwrap_or_default();
    let step = format!("`{}`", run.step.replace('`', ""));
    match run.status {
        RunStatus::Running if !reason.is_empty() => (
            ":hourglass_flowing_sand:",
            format!(
                "*Retrying* {step} after a problem ({} so far): {reason}",
                run.attempts
            ),
        ),
        RunStatus::Running => (
            ":arrows_counterclockwise:",
            format!("*In progress:* {step}"),
        ),
        RunStatus::Waiting => (":raised_hand:", "*Waiting for a decision*".into()),
        RunStatus::Done => (":white_check_mark:", "*Done*".into()),
        RunStatus::Failed => (":x:", format!("*Failed* at {step}: {reason}")),
        RunStatus::Cancelled => (":no_entry_sign:", format!("*Cancelled:* {reason}")),
    }
}

fn history_line(approval: &ApprovalRecord) -> Option<Line> {
    let label = |name: &str| {
        approval
            .options
            .iter()
            .find(|o| o.name.as_str() == name)
            .map_or_else(|| name.to_owned(), |o| o.label.clone())
    };
    match approval.status {
        ApprovalStatus::Decided => Some(
            Line::new()
                .plain(":ballot_box_with_check: ")
                .bold(label(approval.decided_option.as_deref().unwrap_or("?")))
                .plain(" chosen by ")
                .user(approval.decided_by.clone().unwrap_or_default())
                .plain(" on ")
                .date(approval.decided_at.unwrap_or(approval.created_at)),
        ),
        ApprovalStatus::Expired => Some(
            Line::new()
                .plain(":alarm_clock: ")
                .plain(approval.prompt.clone())
                .plain(" — expired on ")
                .date(approval.expires_at),
        ),
        ApprovalStatus::Superseded | ApprovalStatus::Pending => None,
    }
}

fn prompt_line(approval: &ApprovalRecord) -> Line {
    Line::new()
        .bold(approval.prompt.clone())
        .plain(" (open until ")
        .date(approval.expires_at)
        .plain(")")
}

/// "Production: 1 of 2, approved by @ann", while an approval waits for more people.
fn progress_line(approval: &ApprovalRecord, voters: &[Voter]) -> Option<Line> {
    if approval.required <= 1 || voters.is_empty() {
        return None;
    }
    let what = match &approval.decides {
        Decides::Stage(stage) => stage.clone(),
        other => other.describe(),
    };
    let mut line = Line::new().plain(format!(
        ":busts_in_silhouette: {what}: {} of {}, approved by ",
        voters.len(),
        approval.required
    ));
    for (i, voter) in voters.iter().enumerate() {
        if i > 0 {
            line = line.plain(", ");
        }
        line = line.user(voter.by.clone());
    }
    Some(line)
}

fn buttons(approval: &ApprovalRecord) -> SlackBlock {
    let elements = approval
        .options
        .iter()
        .take(25)
        .map(|option| {
            let mut button =
                SlackBlockButtonElement::new(mrkdwn::truncate(&option.label, BUTTON_MAX).into())
                    .with_action_id(actions::action_id(&option.name).into())
                    .with_value(actions::value(approval.id, &option.name));
            let confirm = |question: &str, style: &str| {
                SlackBlockConfirmItem::new(
                    "Are you sure?".into(),
                    plain(&mrkdwn::truncate(question, CONFIRM_TEXT_MAX)),
                    mrkdwn::truncate(&option.label, 30).into(),
                    "Go back".into(),
                )
                .with_style(style.into())
            };
            match &option.style {
                OptionStyle::Primary => button = button.with_style(SlackBlockButtonStyle::Primary),
                OptionStyle::Plain => {}
                OptionStyle::Confirmed { confirm: question } => {
                    button = button
                        .with_style(SlackBlockButtonStyle::Primary)
                        .with_confirm(confirm(question, "primary"));
                }
                OptionStyle::Destructive { confirm: question } => {
                    button = button
                        .with_style(SlackBlockButtonStyle::Danger)
                        .with_confirm(confirm(question, "danger"));
                }
            }
            SlackActionBlockElement::Button(button)
        })
        .collect();
    SlackActionsBlock::new(elements)
        .with_block_id(format!("approval:{}", approval.id).into())
        .into()
}

fn context(run: &RunRecord) -> SlackBlock {
    let id = run.id.to_string();
    let text = mrkdwn::line(
        &Line::new()
            .plain(format!("{} run ", run.kind))
            .code(id.get(..8).unwrap_or(&id))
            .plain(" · started by ")
            .user(run.started_by.clone())
            .plain(" · ")
            .date(run.created_at),
    );
    SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
        SlackBlockMarkDownText::new(text),
    )])
    .into()
}

fn header(text: &str) -> SlackBlock {
    SlackHeaderBlock::new(mrkdwn::truncate(text, HEADER_MAX).into()).into()
}

fn plain(text: &str) -> SlackBlockText {
    SlackBlockPlainText::new(text.to_owned()).into()
}

fn section(mrkdwn_text: &str) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(SlackBlockMarkDownText::new(mrkdwn::truncate(mrkdwn_text, SECTION_MAX)).into())
        .into()
}

fn sections(lines: &[Line]) -> Vec<SlackBlock> {
    if lines.is_empty() {
        return Vec::new();
    }
    chunks(&mrkdwn::lines(lines))
        .iter()
        .map(|c| section(c))
        .collect()
}

/// Like [`sections`], but stops at `budget` characters and says that something was left out.
fn sections_within(lines: &[Line], budget: usize) -> Vec<SlackBlock> {
    let mut used = 0;
    let mut out = Vec::new();
    for chunk in chunks(&mrkdwn::lines(lines)) {
        used += chunk.chars().count();
        if used > budget {
            out.push(section(
                "_… more than fits on a card; see the thread for details._",
            ));
            break;
        }
        out.push(section(&chunk));
    }
    out
}

/// Splits mrkdwn text at line ends into pieces of at most `SECTION_MAX` characters; a single
/// longer line is truncated.
fn chunks(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = mrkdwn::truncate(line, SECTION_MAX);
        let needed =
            current.chars().count() + line.chars().count() + usize::from(!current.is_empty());
        if !current.is_empty() && needed > SECTION_MAX {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests;
