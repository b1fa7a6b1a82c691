//! What a freeze says, wherever it shows: a refused Merge or release start, App Home and
//! `/release status`. Pure.

use crate::domain::Line;
use crate::store::Freeze;

/// `Billo.Api is frozen by @ann since <date>: payment outage`.
pub fn said(freeze: &Freeze) -> Line {
    Line::new()
        .plain(":ice_cube: ")
        .bold(freeze.repo.clone())
        .plain(" is frozen by ")
        .user(freeze.frozen_by.clone())
        .plain(" since ")
        .date(freeze.frozen_at)
        .plain(format!(": {}", freeze.reason))
}

/// The answer to a Merge or a release start while the repository is frozen.
pub fn refusal(freeze: &Freeze) -> Line {
    said(freeze).plain(format!(
        ". Nothing changed; `/release unfreeze {}` lifts the freeze.",
        freeze.repo
    ))
}
