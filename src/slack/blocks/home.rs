//! The App Home tab: what waits for a decision (with the same buttons as the cards, for who may
//! press them; others read who may), the staging release of each repository, and the last runs
//! with links to their cards.

use slack_morphism::prelude::*;

use super::{buttons, header, prompt_line, section, status_word};
use crate::domain::Line;
use crate::slack::mrkdwn;
use crate::store::{ApprovalRecord, Freeze, RunRecord, StagingRelease};
use crate::workflow::freeze;

/// Slack allows 100 blocks in a Home view; each waiting approval takes three.
const WAITING_MAX: usize = 20;

/// A pending approval as the viewer sees it.
pub struct Waiting<'a> {
    pub approval: &'a ApprovalRecord,
    pub run: &'a RunRecord,
    /// A link to the run's card.
    pub link: Option<String>,
    /// Why the viewer may not decide it, shown instead of its buttons; `None`: they may.
    pub read_only: Option<Line>,
}

pub struct HomeModel<'a> {
    /// Pending approvals, oldest first.
    pub waiting: Vec<Waiting<'a>>,
    pub staging: &'a [StagingRelease],
    /// Frozen repositories.
    pub freezes: &'a [Freeze],
    /// The last runs, newest first, with links to their cards.
    pub recent: Vec<(&'a RunRecord, Option<String>)>,
}

pub fn home(model: &HomeModel<'_>) -> SlackView {
    let mut blocks = Vec::new();
    if !model.freezes.is_empty() {
        let frozen: Vec<Line> = model.freezes.iter().map(freeze::said).collect();
        blocks.push(section(&mrkdwn::lines(&frozen)));
    }
    blocks.push(header(":raised_hand: Waiting for a decision"));
    if model.waiting.is_empty() {
        blocks.push(section("_Nothing waits for a decision._"));
    }
    for waiting in model.waiting.iter().take(WAITING_MAX) {
        let link = waiting.link.as_deref();
        blocks.push(section(&mrkdwn::line(&run_line(waiting.run, link))));
        blocks.push(section(&mrkdwn::line(&prompt_line(waiting.approval))));
        blocks.push(match &waiting.read_only {
            None => buttons(waiting.approval),
            Some(why) => section(&format!("_{}_", mrkdwn::line(why))),
        });
    }
    if model.waiting.len() > WAITING_MAX {
        blocks.push(section(&format!(
            "_… and {} more; see the channel._",
            model.waiting.len() - WAITING_MAX
        )));
    }
    blocks.push(SlackDividerBlock::new().into());
    blocks.push(header(":package: Staging releases"));
    let staging: Vec<Line> = model
        .staging
        .iter()
        .map(|s| {
            Line::new()
                .bold(s.repo.clone())
                .plain(format!(
                    " {}: {} PRs, {} tickets, since ",
                    s.version,
                    s.prs.len(),
                    s.tickets.len()
                ))
                .date(s.started_at)
        })
        .collect();
    blocks.push(section(&if staging.is_empty() {
        "_Nothing is staged._".to_owned()
    } else {
        mrkdwn::lines(&staging)
    }));
    blocks.push(SlackDividerBlock::new().into());
    blocks.push(header(":clock3: Recent runs"));
    let recent: Vec<Line> = model
        .recent
        .iter()
        .map(|(run, link)| {
            run_line(run, link.as_deref())
                .plain(format!(" · {} · ", status_word(run.status)))
                .date(run.updated_at)
        })
        .collect();
    blocks.push(section(&if recent.is_empty() {
        "_No runs yet._".to_owned()
    } else {
        mrkdwn::lines(&recent)
    }));
    SlackView::Home(SlackHomeView::new(blocks))
}

/// The run's subject, linked to its card when the link is known.
fn run_line(run: &RunRecord, link: Option<&str>) -> Line {
    match link {
        Some(url) => Line::new().link(url, run.subject.clone()),
        None => Line::new().bold(run.subject.clone()),
    }
}
