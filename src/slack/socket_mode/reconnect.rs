//! When a connection slot connects again. Pure: the reason the last connection ended decides,
//! with capped exponential backoff and jitter for failures, so a fleet of bots does not reconnect
//! in step (a known way to earn `too_many_websockets`).

use std::time::Duration;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Slack rotates the link (`refresh_requested`, `warning`, or a reason we do not know):
    /// connect again at once; the old connection keeps serving until the new one says hello.
    Rotated,
    /// More than 10 connections for this app (`too_many_websockets`): close and wait.
    TooMany,
    /// Socket Mode was turned off for the app (`link_disabled`): stop.
    Disabled,
    /// The connection broke (read error, close, silence) or could not be opened.
    Broken,
}

impl Ended {
    /// The meaning of a `disconnect` frame's reason.
    pub fn by(reason: &str) -> Self {
        match reason {
            "too_many_websockets" => Self::TooMany,
            "link_disabled" => Self::Disabled,
            _ => Self::Rotated,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BackoffSettings {
    /// The first pause after a second failure in a row (the first failure reconnects at once).
    pub base: Duration,
    pub cap: Duration,
    /// The first pause after `too_many_websockets`; doubles while it repeats.
    pub too_many: Duration,
    pub too_many_cap: Duration,
}

impl Default for BackoffSettings {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            too_many: Duration::from_secs(10),
            too_many_cap: Duration::from_secs(300),
        }
    }
}

/// Failures since the last healthy connection.
#[derive(Debug)]
pub struct Backoff {
    settings: BackoffSettings,
    broken: u32,
    too_many: u32,
}

impl Backoff {
    pub fn new(settings: BackoffSettings) -> Self {
        Self {
            settings,
            broken: 0,
            too_many: 0,
        }
    }

    /// A connection said hello: the next break starts afresh. `too_many_websockets` keeps
    /// doubling while Slack repeats it after each hello; a rotation ends that.
    pub fn healthy(&mut self) {
        self.broken = 0;
    }

    /// The pause before connecting again after `ended`, given `jitter` in [0, 1); `None`: do not
    /// connect again.
    pub fn next(&mut self, ended: Ended, jitter: f64) -> Option<Duration> {
        let jitter = jitter.clamp(0.0, 1.0);
        match ended {
            Ended::Rotated => {
                self.too_many = 0;
                Some(Duration::ZERO)
            }
            Ended::Disabled => None,
            Ended::Broken => {
                self.broken += 1;
                if self.broken == 1 {
                    return Some(Duration::ZERO);
                }
                let pause = doubled(self.settings.base, self.broken - 2, self.settings.cap);
                // Half to all of the pause.
                Some(pause.mul_f64(0.5 + jitter / 2.0))
            }
            Ended::TooMany => {
                self.too_many += 1;
                let pause = doubled(
                    self.settings.too_many,
                    self.too_many - 1,
                    self.settings.too_many_cap,
                );
                // At least the pause, up to half as long again.
                Some(pause.mul_f64(1.0 + jitter / 2.0))
            }
        }
    }
}

fn doubled(base: Duration, times: u32, cap: Duration) -> Duration {
    base.saturating_mul(1 << times.min(16)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff::new(BackoffSettings::default())
    }

    #[test]
    fn reasons_map_to_what_to_do() {
        assert_eq!(Ended::by("refresh_requested"), Ended::Rotated);
        assert_eq!(Ended::by("warning"), Ended::Rotated);
        assert_eq!(Ended::by("something_new"), Ended::Rotated);
        assert_eq!(Ended::by("too_many_websockets"), Ended::TooMany);
        assert_eq!(Ended::by("link_disabled"), Ended::Disabled);
    }

    #[test]
    fn a_rotation_reconnects_at_once_and_a_disabled_link_not_at_all() {
        let mut b = backoff();
        assert_eq!(b.next(Ended::Rotated, 0.9), Some(Duration::ZERO));
        assert_eq!(b.next(Ended::Disabled, 0.9), None);
    }

    #[test]
    fn breaks_in_a_row_back_off_up_to_the_cap_until_a_hello() {
        let mut b = backoff();
        let pauses: Vec<Duration> = (0..9)
            .map(|_| b.next(Ended::Broken, 1.0).unwrap())
            .collect();
        let secs: Vec<u64> = pauses.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [0, 1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(
            b.next(Ended::Broken, 0.0).unwrap(),
            Duration::from_secs(15),
            "jitter takes up to half off"
        );
        b.healthy();
        assert_eq!(b.next(Ended::Broken, 1.0), Some(Duration::ZERO));
    }

    #[test]
    fn too_many_websockets_always_waits_and_doubles_until_a_rotation() {
        let mut b = backoff();
        let first = b.next(Ended::TooMany, 0.0).unwrap();
        assert_eq!(first, Duration::from_secs(10));
        b.healthy();
        let second = b.next(Ended::TooMany, 1.0).unwrap();
        assert_eq!(second, Duration::from_secs(30), "20 s and half again");
        for _ in 0..10 {
            b.next(Ended::TooMany, 0.0);
        }
        assert_eq!(
            b.next(Ended::TooMany, 0.0).unwrap(),
            Duration::from_secs(300)
        );
        b.next(Ended::Rotated, 0.0);
        assert_eq!(
            b.next(Ended::TooMany, 0.0).unwrap(),
            Duration::from_secs(10)
        );
    }
}
