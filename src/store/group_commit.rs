//! Group commit. A Slack handler acks only once its write is committed, and on SQLite a burst of
//! such writes would otherwise queue one transaction each behind the single writer. Here the
//! writes that arrive while a transaction is being written wait for it and then go together in
//! the next one, written with a handful of multi-row statements whatever their number.
//!
//! No task runs this: the first caller to get the writer lock writes everything queued so far
//! and answers each caller; the others find their answer waiting when they get the lock.
//! PostgreSQL, which has no single writer, does not batch (see [`alone`]).

use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{Dialect, Store, StoreError};

/// At most this many writes share a transaction, so one commit never holds the writer long and
/// the statements stay well under the databases' limits on bound parameters.
const MAX_BATCH: usize = 256;

/// One outcome per item of a batch, in order, or an error that fails the whole batch.
pub(crate) type Outcomes<O> = Result<Vec<Result<O, StoreError>>, StoreError>;

/// A kind of write that can be grouped.
pub(crate) trait Batch: Sized + Send + Sync {
    type Outcome: Send;

    /// Writes `batch` in one transaction.
    fn write(store: &Store, batch: &[Self])
    -> impl Future<Output = Outcomes<Self::Outcome>> + Send;

    /// Splits a batch into the writes that go now and those that must wait for the next batch.
    /// All go together unless a kind says otherwise.
    fn split(batch: Vec<Job<Self>>) -> (Vec<Job<Self>>, Vec<Job<Self>>) {
        (batch, Vec::new())
    }
}

/// Cuts `items` into consecutive runs in which no key comes twice (none if it is empty), so
/// that a multi-row statement touches each row once and the items still go in their order.
pub(super) fn without_repeats<T, K: Eq + std::hash::Hash>(
    items: &[T],
    key: impl Fn(&T) -> K,
) -> Vec<&[T]> {
    let (mut runs, mut from, mut seen) = (Vec::new(), 0, std::collections::HashSet::new());
    for (i, item) in items.iter().enumerate() {
        if !seen.insert(key(item)) {
            runs.push(&items[from..i]);
            seen = std::collections::HashSet::from([key(item)]);
            from = i;
        }
    }
    if from < items.len() {
        runs.push(&items[from..]);
    }
    runs
}

pub(crate) struct GroupCommit<T: Batch> {
    queue: Mutex<Vec<Job<T>>>,
    /// Held while a batch is written and answered.
    writer: tokio::sync::Mutex<()>,
}

impl<T: Batch> Default for GroupCommit<T> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            writer: tokio::sync::Mutex::new(()),
        }
    }
}

impl<T: Batch> std::fmt::Debug for GroupCommit<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &self.queue().len())
            .finish()
    }
}

/// A write waiting for its batch.
pub(crate) struct Job<T: Batch> {
    pub(crate) item: T,
    answer: oneshot::Sender<Result<T::Outcome, StoreError>>,
}

impl<T: Batch> GroupCommit<T> {
    /// Writes `item` and returns its outcome once committed: on SQLite in a batch with the
    /// items queued meanwhile, on PostgreSQL alone (see [`alone`]).
    pub(crate) async fn submit(&self, store: &Store, item: T) -> Result<T::Outcome, StoreError> {
        if store.dialect() == Dialect::Postgres {
            return Box::pin(alone(store, item)).await;
        }
        let (answer, mut answered) = oneshot::channel();
        self.queue().push(Job { item, answer });
        // An item written by another caller is answered without queueing for the lock.
        let _writer = tokio::select! {
            biased;
            answer = &mut answered => return answer.unwrap_or(Err(StoreError::Abandoned)),
            writer = self.writer.lock() => writer,
        };
        // Queued items are written until this caller's own is answered; the items left go with
        // the next caller that gets the lock.
        loop {
            match answered.try_recv() {
                Ok(result) => return result,
                // The caller that took this item was cancelled before answering; the
                // transaction may or may not have committed.
                Err(oneshot::error::TryRecvError::Closed) => return Err(StoreError::Abandoned),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let (batch, later) = T::split(self.take(MAX_BATCH));
            if batch.is_empty() {
                // Cannot happen while this caller's item is queued; never spin if it does.
                return Err(StoreError::Abandoned);
            }
            self.put_back(later);
            let (items, answers): (Vec<T>, Vec<_>) =
                batch.into_iter().map(|job| (job.item, job.answer)).unzip();
            // Boxed, as is `alone` above: only a caller that writes needs the write's state, and
            // held inline it would make every waiting caller's task that much larger.
            let outcomes = Box::pin(T::write(store, &items)).await;
            answer_all(answers, outcomes);
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Job<T>>> {
        // A panic while the lock was held cannot leave the Vec half-changed.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The oldest `limit` queued items.
    fn take(&self, limit: usize) -> Vec<Job<T>> {
        let mut queue = self.queue();
        let n = queue.len().min(limit);
        queue.drain(..n).collect()
    }

    /// Returns items to the front of the queue, ahead of those that arrived after them.
    fn put_back(&self, jobs: Vec<Job<T>>) {
        if !jobs.is_empty() {
            self.queue().splice(0..0, jobs);
        }
    }
}

/// Writes `item` in a transaction of its own. PostgreSQL takes concurrent writers, and writes a
/// large multi-row statement far more slowly per row than a small one (measured: 256 run starts
/// 140 ms, one 2 ms), so each write is alone there.
async fn alone<T: Batch>(store: &Store, item: T) -> Result<T::Outcome, StoreError> {
    T::write(store, std::slice::from_ref(&item))
        .await?
        .pop()
        .unwrap_or(Err(StoreError::Abandoned))
}

/// Sends each caller its outcome. When the transaction as a whole failed, every caller gets the
/// error.
fn answer_all<O>(answers: Vec<oneshot::Sender<Result<O, StoreError>>>, outcomes: Outcomes<O>) {
    match outcomes {
        Ok(outcomes) => {
            for (answer, outcome) in answers.into_iter().zip(outcomes) {
                let _ = answer.send(outcome);
            }
        }
        Err(error) => {
            let shared = error.to_string();
            let mut error = Some(error);
            for answer in answers {
                let own = error
                    .take()
                    .unwrap_or_else(|| StoreError::Batch(shared.clone()));
                let _ = answer.send(Err(own));
            }
        }
    }
}
