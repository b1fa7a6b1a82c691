//! What the engine's steps write while they run: the effect journal's entries (`journal.rs`)
//! and the checkpoint at the end of a step. On SQLite the writes of all runs stepping at the
//! same moment share one transaction through the single writer (see `group_commit.rs`), and the
//! journal entries among them share a statement per kind, so a batch costs a handful of hops to
//! SQLite's worker thread, not several per run. Each write is still committed before its caller
//! goes on: an effect is recorded as started before it is caused, and its result before the step
//! moves past it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::instrument;

use super::checkpoints::{Checkpoint, WriteCheckpoints};
use super::group_commit::{Batch, GroupCommit, Outcomes};
use super::journal::{EffectEntry, JournalEntry, WriteJournal};
use super::{BeginWrite, RunRecord, Store, StoreError, on_db};
use crate::domain::RunId;

pub(crate) type StepWrites = GroupCommit<StepWrite>;

#[derive(Debug, Clone)]
pub(crate) enum StepWrite {
    Journal(JournalEntry),
    Checkpoint {
        checkpoint: Box<Checkpoint>,
        now: DateTime<Utc>,
    },
}

/// What a [`StepWrite`] answers: a journal entry what `journal.rs` answers (the effect as its
/// start left it), a checkpoint the run as it left it.
#[derive(Debug)]
pub(crate) enum Wrote {
    Journal(Option<EffectEntry>),
    Run(Box<RunRecord>),
}

impl Batch for StepWrite {
    type Outcome = Wrote;

    fn write(store: &Store, batch: &[Self]) -> impl Future<Output = Outcomes<Wrote>> + Send {
        store.write_steps(batch)
    }
}

impl Store {
    /// Records that an effect is about to be caused, unless it is done: answers `Started` with
    /// the attempt this is (1 = first), or `Done` with the recorded result (nothing is written
    /// then).
    #[instrument(level = "debug", skip_all, fields(run_id = %run_id, effect = name))]
    pub async fn start_effect(
        &self,
        run_id: RunId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<EffectEntry, StoreError> {
        let name = name.to_owned();
        match self
            .step_write(StepWrite::Journal(JournalEntry::Started {
                run_id,
                name,
                now,
            }))
            .await?
        {
            Wrote::Journal(Some(entry)) => Ok(entry),
            other => unreachable!("an effect's start answered {other:?}"),
        }
    }

    /// Records an effect's result.
    #[instrument(level = "debug", skip_all, fields(run_id = %run_id, effect = name))]
    pub async fn finish_effect(
        &self,
        run_id: RunId,
        name: &str,
        result: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (name, result) = (name.to_owned(), result.clone());
        let entry = JournalEntry::Done {
            run_id,
            name,
            result,
            now,
        };
        self.step_write(StepWrite::Journal(entry)).await?;
        Ok(())
    }

    /// Records a step's result. Fails with `Conflict` when the lease was lost or the run moved.
    #[instrument(level = "debug", skip_all, fields(run_id = %cp.run_id, step = %cp.step, status = %cp.status))]
    pub async fn checkpoint(
        &self,
        cp: &Checkpoint,
        now: DateTime<Utc>,
    ) -> Result<RunRecord, StoreError> {
        let checkpoint = Box::new(cp.clone());
        match self
            .step_write(StepWrite::Checkpoint { checkpoint, now })
            .await?
        {
            Wrote::Run(run) => Ok(*run),
            other => unreachable!("a checkpoint answered {other:?}"),
        }
    }

    /// Writes `write` once committed, with the step writes of other runs on SQLite. A write whose
    /// shared transaction failed for another's sake (so nothing of it was written) is written
    /// alone.
    pub(crate) async fn step_write(&self, write: StepWrite) -> Result<Wrote, StoreError> {
        match self.steps.submit(self, write.clone()).await {
            Err(StoreError::Batch(_)) => self
                .write_steps(std::slice::from_ref(&write))
                .await?
                .pop()
                .unwrap_or(Err(StoreError::Abandoned)),
            other => other,
        }
    }

    /// Writes `batch` in one transaction: its journal entries first, with a statement per kind
    /// (see `journal.rs`), then its checkpoints (see `checkpoints.rs`). Its writes are each of a
    /// different run, or of an engine that lost the run's lease and whose checkpoint is refused
    /// wherever it goes, so the order does not matter. A journal entry alone needs no transaction.
    async fn write_steps(&self, batch: &[StepWrite]) -> Outcomes<Wrote> {
        let entries: Vec<&JournalEntry> = batch
            .iter()
            .filter_map(|write| match write {
                StepWrite::Journal(entry) => Some(entry),
                StepWrite::Checkpoint { .. } => None,
            })
            .collect();
        let checkpoints: Vec<(&Checkpoint, DateTime<Utc>)> = batch
            .iter()
            .filter_map(|write| match write {
                StepWrite::Checkpoint { checkpoint, now } => Some((&**checkpoint, *now)),
                StepWrite::Journal(_) => None,
            })
            .collect();
        if let [StepWrite::Journal(_)] = batch {
            let answers =
                on_db!(self, pool => pool.acquire().await?.write_journal(&entries).await)?;
            return Ok(answers.into_iter().map(|a| a.map(Wrote::Journal)).collect());
        }
        let (answers, runs) = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let answers = tx.write_journal(&entries).await?;
            let runs = tx.write_checkpoints(&checkpoints).await?;
            tx.commit().await?;
            (answers, runs)
        });
        let runs = checkpoints
            .iter()
            .zip(runs)
            .map(|((cp, _), row)| match row {
                Some(row) => RunRecord::try_from(row).map(|run| Wrote::Run(Box::new(run))),
                None => Err(StoreError::Conflict(format!(
                    "run {} moved on or its lease was lost",
                    cp.run_id
                ))),
            });
        // Each answer back in its write's place.
        let (mut answers, mut runs) = (answers.into_iter(), runs);
        Ok(batch
            .iter()
            .map(|write| match write {
                StepWrite::Journal(_) => answers.next().map(|a| a.map(Wrote::Journal)),
                StepWrite::Checkpoint { .. } => runs.next(),
            })
            .map(|answer| answer.unwrap_or(Err(StoreError::Abandoned)))
            .collect())
    }
}
