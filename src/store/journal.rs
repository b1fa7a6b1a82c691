//! The effect journal. A step that causes an external effect (merge, create a ticket, queue a
//! build) records it as started before the call and its result after. A replay of the step gets
//! the recorded result back from its start instead of calling again; an effect that was started
//! but never finished tells the step to look for the effect before repeating it.
//!
//! The entries are written with the steps' other writes (`step_writes.rs`): the starts of a
//! batch in one statement, and its results in another.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;

use super::StoreError;
use super::group_commit::without_repeats;
use crate::domain::RunId;

/// Starts effects, or counts another attempt of one started before; one done is left as it is
/// and answers no row.
const START: &str = "INSERT INTO effects (run_id, name, status, attempts, started_at) ";
const START_CONFLICT: &str = " ON CONFLICT (run_id, name) DO UPDATE \
     SET attempts = effects.attempts + 1, started_at = excluded.started_at \
     WHERE effects.status = 'started' RETURNING run_id, name, attempts";

/// The result of an effect that is done.
const DONE: &str = "SELECT result FROM effects WHERE run_id = $1 AND name = $2 AND status = 'done'";

/// Records results, from a list whose columns SQLite and PostgreSQL both name `column1` …
const FINISH: &str =
    "UPDATE effects SET status = 'done', result = v.column3, finished_at = v.column4 FROM (";
const FINISH_WHERE: &str = ") AS v WHERE effects.run_id = v.column1 AND effects.name = v.column2 \
     AND effects.status = 'started'";

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

impl JournalEntry {
    fn effect(&self) -> (RunId, &str) {
        match self {
            Self::Started { run_id, name, .. } | Self::Done { run_id, name, .. } => (*run_id, name),
        }
    }
}

/// What an entry answers: a start the effect as it now is, a result `None`.
pub(crate) type Journaled = Result<Option<EffectEntry>, StoreError>;

/// A connection the journal can be written on.
pub(super) trait WriteJournal {
    /// Writes `entries` and answers each, in order.
    async fn write_journal(
        &mut self,
        entries: &[&JournalEntry],
    ) -> Result<Vec<Journaled>, sqlx::Error>;
}

/// Writes `$entries` on `$conn`: the starts with one statement and the results with another.
/// An effect named twice (two engines on one run) starts a new pair of statements at its second
/// entry, so that each statement touches an effect once and the entries go in their order.
macro_rules! write_journal {
    ($conn:expr, $entries:expr) => {
        async {
            let (conn, all): (_, &[&JournalEntry]) = ($conn, $entries);
            let mut answers = Vec::with_capacity(all.len());
            for entries in without_repeats(all, |entry| entry.effect()) {
                let starts: Vec<_> = entries
                    .iter()
                    .filter_map(|e| match e {
                        JournalEntry::Started { run_id, name, now } => {
                            Some((run_id.to_string(), name, now))
                        }
                        JournalEntry::Done { .. } => None,
                    })
                    .collect();
                let mut started = HashMap::new();
                if !starts.is_empty() {
                    let mut query = QueryBuilder::new(START);
                    query.push_values(&starts, |mut row, (run_id, name, now)| {
                        row.push_bind(run_id)
                            .push_bind(*name)
                            .push("'started'")
                            .push("1")
                            .push_bind(**now);
                    });
                    query.push(START_CONFLICT);
                    let rows: Vec<(String, String, i64)> =
                        query.build_query_as().fetch_all(&mut *conn).await?;
                    started = rows
                        .into_iter()
                        .map(|(run, name, n)| ((run, name), n))
                        .collect();
                }
                let finishes: Vec<_> = entries
                    .iter()
                    .filter_map(|e| match e {
                        JournalEntry::Done {
                            run_id,
                            name,
                            result,
                            now,
                        } => Some((run_id.to_string(), name, result, now)),
                        JournalEntry::Started { .. } => None,
                    })
                    .collect();
                if !finishes.is_empty() {
                    let mut query = QueryBuilder::new(FINISH);
                    query.push_values(&finishes, |mut row, (run_id, name, result, now)| {
                        row.push_bind(run_id)
                            .push_bind(*name)
                            .push_bind(Json(*result))
                            .push_bind(**now);
                    });
                    query.push(FINISH_WHERE);
                    query.build().execute(&mut *conn).await?;
                }
                for entry in entries {
                    let JournalEntry::Started { run_id, name, .. } = entry else {
                        answers.push(Ok(None));
                        continue;
                    };
                    if let Some(attempts) = started.remove(&(run_id.to_string(), name.clone())) {
                        answers.push(Ok(Some(EffectEntry::Started { attempts })));
                        continue;
                    }
                    // Done before: a replay, which gets the recorded result.
                    let done: Option<Json<Value>> = sqlx::query_scalar(DONE)
                        .bind(run_id.to_string())
                        .bind(name)
                        .fetch_optional(&mut *conn)
                        .await?;
                    answers.push(
                        done.map(|result| Some(EffectEntry::Done(result.0)))
                            .ok_or_else(|| {
                                StoreError::Conflict(format!(
                                    "effect {name} of run {run_id} is neither started nor done"
                                ))
                            }),
                    );
                }
            }
            Ok(answers)
        }
        .await
    };
}

impl WriteJournal for sqlx::SqliteConnection {
    async fn write_journal(
        &mut self,
        entries: &[&JournalEntry],
    ) -> Result<Vec<Journaled>, sqlx::Error> {
        write_journal!(self, entries)
    }
}

impl WriteJournal for sqlx::PgConnection {
    async fn write_journal(
        &mut self,
        entries: &[&JournalEntry],
    ) -> Result<Vec<Journaled>, sqlx::Error> {
        write_journal!(self, entries)
    }
}
