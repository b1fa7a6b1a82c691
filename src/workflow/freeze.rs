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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
