//! Acks first. Slack envelopes received and not yet acked are counted here, and background work
//! (the intake starting runs, the engine claiming them) waits while there are any. A burst of
//! slash commands then has the CPU and the database to itself and is acked as fast as it came;
//! the runs it asked for start a moment later, which nobody can see. The wait is bounded, so a
//! steady stream of envelopes never starves the runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How long background work waits for the acks at most.
pub const WAIT_AT_MOST: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
pub struct AcksInFlight {
    count: AtomicUsize,
    none_left: Notify,
}

/// One envelope on its way to its ack; dropping it (ack written, or given up) counts it out.
#[derive(Debug)]
pub struct InFlight(Arc<AcksInFlight>);

impl AcksInFlight {
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Returns once no envelope is in flight, or after `longest`.
    pub async fn settled(&self, longest: Duration) {
        let none_left = async {
            loop {
                // Registered before the check, so a drop in between still wakes it.
                let notified = self.none_left.notified();
                if self.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(longest, none_left).await;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn waits_for_the_last_ack_and_no_longer() {
        let acks = Arc::new(AcksInFlight::default());
        let started = Instant::now();
        acks.settled(Duration::from_secs(5)).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "nothing in flight: no wait"
        );

        let (first, second) = (acks.enter(), acks.enter());
        let waiting = tokio::spawn({
            let acks = acks.clone();
            async move { acks.settled(Duration::from_secs(30)).await }
        });
        drop(first);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one envelope is still in flight");
        drop(second);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the last ack ends the wait")
            .unwrap();
    }

    #[tokio::test]
    async fn a_stream_that_never_settles_is_waited_for_only_so_long() {
        let acks = Arc::new(AcksInFlight::default());
        let _stuck = acks.enter();
        let started = Instant::now();
        tokio::time::timeout(
            Duration::from_secs(10),
            acks.settled(Duration::from_millis(50)),
        )
        .await
        .expect("the wait has a bound");
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
