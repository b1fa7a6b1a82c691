//! Pacing posts per channel: about one message per second (Slack's posting limit), and silence
//! for as long as a 429's `Retry-After` asks.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// When each channel may be posted to next. Pure bookkeeping; the caller sleeps.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    next_free: HashMap<String, Instant>,
}

impl Pacer {
    /// Reserves the next slot in `channel`, at least `gap` after the previous one.
    pub(crate) fn reserve(&mut self, channel: &str, now: Instant, gap: Duration) -> Instant {
        let at = self
            .next_free
            .get(channel)
            .map_or(now, |free| (*free).max(now));
        self.next_free.insert(channel.to_owned(), at + gap);
        at
    }

    /// Keeps `channel` quiet until `until` (a 429's Retry-After).
    pub(crate) fn hold(&mut self, channel: &str, until: Instant) {
        let free = self.next_free.entry(channel.to_owned()).or_insert(until);
        *free = (*free).max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_to_one_channel_are_spaced_by_the_gap() {
        let mut pacer = Pacer::default();
        let now = Instant::now();
        let gap = Duration::from_secs(1);
        assert_eq!(pacer.reserve("C1", now, gap), now);
        assert_eq!(pacer.reserve("C1", now, gap), now + gap);
        assert_eq!(pacer.reserve("C1", now, gap), now + gap * 2);
        assert_eq!(
            pacer.reserve("C2", now, gap),
            now,
            "other channels are not held up"
        );
        let later = now + Duration::from_secs(10);
        assert_eq!(
            pacer.reserve("C1", later, gap),
            later,
            "an idle channel is free at once"
        );
    }

    #[test]
    fn a_retry_after_holds_the_channel() {
        let mut pacer = Pacer::default();
        let now = Instant::now();
        pacer.hold("C1", now + Duration::from_secs(30));
        assert_eq!(
            pacer.reserve("C1", now, Duration::from_secs(1)),
            now + Duration::from_secs(30)
        );
    }
}
