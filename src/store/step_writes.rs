//! What the engine's steps write while they run: the effect journal's entries and the
//! checkpoint at the end of a step.
//!
//! The effect journal: a step that causes an external effect (merge, create a ticket, queue a
//! build) records it as started before the call and its result after. A replay of the step gets
//! the recorded result back from its start instead of calling again; an effect that was started
//! but never finished tells the step to look for the effect before repeating it.
//! On SQLite the writes of all runs stepping at the
//! same moment share one transaction through the single writer (see `group_commit.rs`), so a
//! page such as the effect table's is written to the log once for them all rather than once
//! each. Each write is still committed before its caller goes on: an effect is recorded as
//! started before it is caused, and its result before the step moves past it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use tracing::instrument;

use super::checkpoints::{Checkpoint, WriteCheckpoint};
use super::group_commit::{Batch, GroupCommit, Outcomes};
use super::{BeginWrite, RunRecord, Store, StoreError, on_db};
use crate::domain::RunId;

const START: &str = "INSERT INTO effects (run_id, name, status, attempts, started_at) \
     VALUES ($1, $2, 'started', 1, $3) \
     ON CONFLICT (run_id, name) DO UPDATE SET attempts = effects.attempts + 1, started_at = $3 \
     WHERE effects.status = 'started' RETURNING attempts";

/// The result of an effect that is already done, which `START` leaves as it is.
const DONE: &str = "SELECT result FROM effects WHERE run_id = $1 AND name = $2 AND status = 'done'";

const FINISH: &str = "UPDATE effects SET status = 'done', result = $3, finished_at = $4 \
     WHERE run_id = $1 AND name = $2 AND status = 'started'";

pub(crate) type StepWrites = GroupCommit<StepWrite>;

#[derive(Debug, Clone)]
pub(crate) enum StepWrite {
    Journal(JournalEntry),
    Checkpoint {
        checkpoint: Box<Checkpoint>,
        now: DateTime<Utc>,
    },
}

/// An effect as the journal has it.
#[derive(Debug, Clone, PartialEq)]
pub enum EffectEntry {
    Done(Value),
    /// Started `attempts` times, never finished: the process died or the call failed.
    Started {
        attempts: i64,
    },
}

/// An entry of the effect journal.
#[derive(Debug, Clone)]
pub(crate) enum JournalEntry {
    /// The effect is about to be caused.
    Started {
        run_id: RunId,
        name: String,
        now: DateTime<Utc>,
    },
    /// The effect was caused, with this result.
    Done {
        run_id: RunId,
        name: String,
        result: Value,
        now: DateTime<Utc>,
    },
}

/// What a [`StepWrite`] answers: the effect as its start left it, a result recorded, the run as
/// its checkpoint left it.
#[derive(Debug)]
pub(crate) enum Wrote {
    Effect(EffectEntry),
    Recorded,
    Run(Box<RunRecord>),
}

impl Batch for StepWrite {
    type Outcome = Wrote;

    fn write(store: &Store, batch: &[Self]) -> impl Future<Output = Outcomes<Wrote>> + Send {
        store.write_steps(batch)
    }
}

/// Writes `$entry` on `$exec` (a pool or a transaction's connection). An effect started that
/// is already done answers its result, which is then read on the same connection.
macro_rules! write_entry {
    ($exec:expr, $entry:expr) => {
        match $entry {
            JournalEntry::Started { run_id, name, now } => {
                async {
                    let started: Option<i64> = sqlx::query_scalar(START)
                        .bind(run_id.to_string())
                        .bind(name)
                        .bind(now)
                        .fetch_optional($exec)
                        .await?;
                    if let Some(attempts) = started {
                        return Ok(Ok(Wrote::Effect(EffectEntry::Started { attempts })));
                    }
                    let done: Option<Json<Value>> = sqlx::query_scalar(DONE)
                        .bind(run_id.to_string())
                        .bind(name)
                        .fetch_optional($exec)
                        .await?;
                    Ok(done
                        .map(|result| Wrote::Effect(EffectEntry::Done(result.0)))
                        .ok_or_else(|| {
                            StoreError::Conflict(format!(
                                "effect {name} of run {run_id} is neither started nor done"
                            ))
                        }))
                }
                .await
            }
            JournalEntry::Done {
                run_id,
                name,
                result,
                now,
            } => sqlx::query(FINISH)
                .bind(run_id.to_string())
                .bind(name)
                .bind(Json(result))
                .bind(now)
                .execute($exec)
                .await
                .map(|_| Ok(Wrote::Recorded)),
        }
    };
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
            Wrote::Effect(entry) => Ok(entry),
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

    /// Writes `batch` in one transaction; a journal entry alone needs none.
    async fn write_steps(&self, batch: &[StepWrite]) -> Outcomes<Wrote> {
        if let [StepWrite::Journal(entry)] = batch {
            return Ok(vec![on_db!(self, pool => write_entry!(pool, entry))?]);
        }
        let outcomes = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut outcomes = Vec::with_capacity(batch.len());
            for write in batch {
                outcomes.push(match write {
                    StepWrite::Checkpoint { checkpoint, now } => {
                        tx.write_checkpoint(checkpoint, *now).await?
                            .map(|row| RunRecord::try_from(row).map(|run| Wrote::Run(Box::new(run))))
                            .unwrap_or_else(|| Err(StoreError::Conflict(format!(
                                "run {} moved on or its lease was lost",
                                checkpoint.run_id
                            ))))
                    }
                    StepWrite::Journal(entry) => write_entry!(&mut *tx, entry)?,
                });
            }
            tx.commit().await?;
            outcomes
        });
        Ok(outcomes)
    }
}
