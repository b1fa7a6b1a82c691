//! A run's card: the one Slack message per run, updated in place. A flow says what its card
//! shows ([`CardView`]); answers elsewhere point people at the card ([`where_card`]).

use crate::domain::Line;
use crate::store::RunRecord;

/// The flow's part of a card; the engine adds status, decisions and buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardView {
    pub title: String,
    pub lines: Vec<Line>,
}

/// `line` followed by `: see its card.` as a link to `card`, or by the channel the card is in
/// when no link can be made (the workspace is not known).
pub fn where_card(line: Line, run: &RunRecord, card: Option<String>) -> Line {
    match card {
        Some(url) => line.plain(": ").link(url, "see its card").plain("."),
        None => line
            .plain("; its card is in ")
            .channel(run.channel_id.clone())
            .plain("."),
    }
}
