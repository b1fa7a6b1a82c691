//! Group commit of new runs. A slash command is acked only once its run is committed, and on
//! SQLite a burst of commands would otherwise queue one transaction each behind the single
//! writer. Here the starts that arrive while a transaction is being written wait for it and then
//! go together in the next one, written with a handful of multi-row statements whatever the
//! number of starts. On PostgreSQL, which has no single writer, each start is written alone.
//!
//! No task runs this: the first caller to get the writer lock writes everything queued so far
//! and answers each caller; the others find their answer waiting when they get the lock. Each
//! start keeps its own outcome: a known delivery key starts nothing, a run already under way is
//! answered instead of a second one, and a second release of a repository conflicts, all without
//! affecting the other starts of the batch.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::types::Json;
use tokio::sync::oneshot;

use super::runs::{RunRow, Started};
use super::{
    ADVISORY_LOCK, BeginWrite, Dialect, NewDelivery, NewRun, RunRecord, Store, StoreError, on_db,
};

/// At most this many starts share a transaction, so one commit never holds the writer long and
/// the statements stay well under the databases' limits on bound parameters.
const MAX_BATCH: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct RunStarts {
    queue: Mutex<Vec<Pending>>,
    /// Held while a batch is written and answered.
    writer: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Pending {
    run: NewRun,
    delivery: Option<NewDelivery>,
    now: DateTime<Utc>,
    answer: oneshot::Sender<Result<Started, StoreError>>,
}

impl Store {
    /// Creates a run, with its "started" audit entry. With a delivery, the delivery's dedupe key
    /// is recorded in the same transaction; if the key is already known nothing is created. A
    /// run marked `one_per_pr` is not created while an unfinished run of its kind about the same
    /// PR exists; that run is returned instead. `Conflict`: the kind allows one unfinished run
    /// per repository, and there is one.
    pub async fn create_run(
        &self,
        run: &NewRun,
        delivery: Option<&NewDelivery>,
        now: DateTime<Utc>,
    ) -> Result<Started, StoreError> {
        let (answer, mut answered) = oneshot::channel();
        let pending = Pending {
            run: run.clone(),
            delivery: delivery.cloned(),
            now,
            answer,
        };
        if self.dialect() == Dialect::Postgres {
            // PostgreSQL takes concurrent writers, and writes a large multi-row statement far
            // more slowly per row than a small one (measured: 256 starts 140 ms, one 2 ms), so
            // each start is its own transaction there.
            self.write_batch(vec![pending]).await;
            return answered.await.unwrap_or(Err(StoreError::Abandoned));
        }
        self.starts.queue().push(pending);
        // A start written by another caller is answered without queueing for the lock.
        let _writer = tokio::select! {
            biased;
            answer = &mut answered => return answer.unwrap_or(Err(StoreError::Abandoned)),
            writer = self.starts.writer.lock() => writer,
        };
        // Queued starts are written until this caller's own is answered; the starts left go with
        // the next caller that gets the lock.
        loop {
            match answered.try_recv() {
                Ok(result) => return result,
                // The caller that took this start was cancelled before answering; the
                // transaction may or may not have committed.
                Err(oneshot::error::TryRecvError::Closed) => return Err(StoreError::Abandoned),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let (batch, later) = split(self.starts.take(MAX_BATCH));
            if batch.is_empty() {
                // Cannot happen while this caller's start is queued; never spin if it does.
                return Err(StoreError::Abandoned);
            }
            self.starts.put_back(later);
            self.write_batch(batch).await;
        }
    }

    /// Writes `batch` in one transaction and answers each start. When the transaction as a
    /// whole fails, every start gets the error.
    async fn write_batch(&self, batch: Vec<Pending>) {
        match self.insert_starts(&batch).await {
            Ok(outcomes) => {
                for (pending, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = pending.answer.send(outcome);
                }
            }
            Err(error) => {
                let shared = error.to_string();
                let mut error = Some(error);
                for pending in batch {
                    let own = error
                        .take()
                        .unwrap_or_else(|| StoreError::Batch(shared.clone()));
                    let _ = pending.answer.send(Err(own));
                }
            }
        }
    }

    /// The outcome of each start of `batch`, in order. `batch` holds no two starts with the same
    /// delivery key or the same one-per-PR subject (see [`split`]).
    async fn insert_starts(
        &self,
        batch: &[Pending],
    ) -> Result<Vec<Result<Started, StoreError>>, StoreError> {
        let mut outcomes: Vec<Option<Result<Started, StoreError>>> =
            batch.iter().map(|_| None).collect();
        let one_per_pr: Vec<i64> = batch
            .iter()
            .filter(|p| p.run.one_per_pr)
            .filter_map(|p| p.run.pr_id)
            .collect();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;

            if !one_per_pr.is_empty() {
                // SQLite's writer is alone; PostgreSQL's concurrent starts for a PR take turns,
                // so the second sees the first's run.
                if self.dialect() == Dialect::Postgres {
                    for p in batch.iter().filter(|p| p.run.one_per_pr) {
                        let name = format!("one-per-pr:{}:{:?}", p.run.kind, p.run.pr_id);
                        sqlx::query(ADVISORY_LOCK).bind(name).execute(&mut *tx).await?;
                    }
                }
                let mut query = QueryBuilder::new(
                    "SELECT * FROM runs WHERE status IN ('running', 'waiting') AND pr_id IN (",
                );
                let mut ids = query.separated(", ");
                for id in &one_per_pr {
                    ids.push_bind(*id);
                }
                query.push(") ORDER BY created_at");
                let rows: Vec<RunRow> = query.build_query_as().fetch_all(&mut *tx).await?;
                let mut running: HashMap<(String, i64), RunRecord> = HashMap::new();
                for run in super::runs::records(rows)? {
                    if let Some(pr) = run.pr_id {
                        running.entry((run.kind.clone(), pr)).or_insert(run);
                    }
                }
                for (pending, outcome) in batch.iter().zip(&mut outcomes) {
                    let run = &pending.run;
                    if let Some(pr) = run.pr_id.filter(|_| run.one_per_pr)
                        && let Some(under_way) = running.get(&(run.kind.clone(), pr))
                    {
                        *outcome = Some(Ok(Started::AlreadyRunning(Box::new(under_way.clone()))));
                    }
                }
            }

            let keyed: Vec<(&NewDelivery, DateTime<Utc>)> = open(batch, &outcomes)
                .filter_map(|(_, p)| p.delivery.as_ref().map(|d| (d, p.now)))
                .collect();
            if !keyed.is_empty() {
                let mut query = QueryBuilder::new(
                    "INSERT INTO deliveries (key, source, intent, received_at, processed_at) ",
                );
                query.push_values(&keyed, |mut row, (delivery, now)| {
                    row.push_bind(&delivery.key)
                        .push_bind(&delivery.source)
                        .push_bind(delivery.intent.as_ref().map(Json))
                        .push_bind(*now)
                        .push_bind(*now);
                });
                query.push(" ON CONFLICT (key) DO NOTHING RETURNING key");
                let fresh: HashSet<String> =
                    query.build_query_scalar().fetch_all(&mut *tx).await?.into_iter().collect();
                for (pending, outcome) in batch.iter().zip(&mut outcomes) {
                    if outcome.is_none()
                        && pending.delivery.as_ref().is_some_and(|d| !fresh.contains(&d.key))
                    {
                        *outcome = Some(Ok(Started::Duplicate));
                    }
                }
            }

            let starting: Vec<&Pending> = open(batch, &outcomes).map(|(_, p)| p).collect();
            if !starting.is_empty() {
                // `DO NOTHING` rather than an error where a unique index forbids a run (a second
                // unfinished release of a repository), so the other starts still commit.
                let mut query = QueryBuilder::new(
                    "INSERT INTO runs (id, kind, repo, pr_id, subject, step, state, status, \
                     channel_id, started_by, created_at, updated_at) ",
                );
                query.push_values(&starting, |mut row, p| {
                    let run = &p.run;
                    row.push_bind(run.id.to_string())
                        .push_bind(&run.kind)
                        .push_bind(&run.repo)
                        .push_bind(run.pr_id)
                        .push_bind(&run.subject)
                        .push_bind(&run.step)
                        .push_bind(Json(&run.state))
                        .push_bind("running")
                        .push_bind(&run.channel_id)
                        .push_bind(&run.started_by)
                        .push_bind(p.now)
                        .push_bind(p.now);
                });
                query.push(" ON CONFLICT DO NOTHING RETURNING id");
                let inserted: HashSet<String> =
                    query.build_query_scalar().fetch_all(&mut *tx).await?.into_iter().collect();

                let mut refused = Vec::new();
                let mut audit = Vec::new();
                for (index, pending) in open(batch, &outcomes) {
                    if inserted.contains(&pending.run.id.to_string()) {
                        audit.push(index);
                    } else {
                        refused.push(index);
                    }
                }
                let unused_keys: Vec<&str> = refused
                    .iter()
                    .filter_map(|&i| batch[i].delivery.as_ref().map(|d| d.key.as_str()))
                    .collect();
                if !unused_keys.is_empty() {
                    let mut query = QueryBuilder::new("DELETE FROM deliveries WHERE key IN (");
                    let mut keys = query.separated(", ");
                    for key in &unused_keys {
                        keys.push_bind(*key);
                    }
                    query.push(")");
                    query.build().execute(&mut *tx).await?;
                }
                if !audit.is_empty() {
                    let mut query = QueryBuilder::new(
                        "INSERT INTO audit_log (run_id, actor, action, detail, at) ",
                    );
                    query.push_values(&audit, |mut row, &i| {
                        let p = &batch[i];
                        row.push_bind(p.run.id.to_string())
                            .push_bind(&p.run.started_by)
                            .push_bind("started")
                            .push_bind(&p.run.subject)
                            .push_bind(p.now);
                    });
                    query.build().execute(&mut *tx).await?;
                }
                for i in audit {
                    outcomes[i] = Some(Ok(Started::Created));
                }
                for i in refused {
                    outcomes[i] = Some(Err(StoreError::Conflict(
                        "another run of this kind is under way for the repository".into(),
                    )));
                }
            }
            tx.commit().await?;
        });
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every start has an outcome"))
            .collect())
    }
}

/// The starts of `batch` without an outcome yet, with their index.
fn open<'a>(
    batch: &'a [Pending],
    outcomes: &'a [Option<Result<Started, StoreError>>],
) -> impl Iterator<Item = (usize, &'a Pending)> {
    batch
        .iter()
        .enumerate()
        .filter(|(i, _)| outcomes[*i].is_none())
}

/// Splits off the starts that repeat an earlier start's delivery key, or its kind and PR when
/// one of them is one-per-PR. They wait for the next batch, where the first one's run (or key)
/// is committed and answers them like any earlier request.
fn split(batch: Vec<Pending>) -> (Vec<Pending>, Vec<Pending>) {
    let mut keys = HashSet::new();
    let mut subjects = HashSet::new();
    batch.into_iter().partition(|p| {
        let key = p.delivery.as_ref().map(|d| d.key.clone());
        let subject = p.run.pr_id.map(|pr| (p.run.kind.clone(), pr));
        let repeats_key = key.as_ref().is_some_and(|k| keys.contains(k));
        let repeats_pr = p.run.one_per_pr && subject.as_ref().is_some_and(|s| subjects.contains(s));
        if repeats_key || repeats_pr {
            return false;
        }
        keys.extend(key);
        subjects.extend(subject);
        true
    })
}

impl RunStarts {
    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        // A panic while the lock was held cannot leave the Vec half-changed.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The oldest `limit` queued starts.
    fn take(&self, limit: usize) -> Vec<Pending> {
        let mut queue = self.queue();
        let n = queue.len().min(limit);
        queue.drain(..n).collect()
    }

    /// Returns starts to the front of the queue, ahead of those that arrived after them.
    fn put_back(&self, starts: Vec<Pending>) {
        if !starts.is_empty() {
            self.queue().splice(0..0, starts);
        }
    }
}
