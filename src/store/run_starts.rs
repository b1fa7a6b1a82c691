//! Starting runs. A start is written with its dedupe key and its "started" audit entry, and
//! keeps its own outcome: a known delivery key starts nothing, a run already under way is
//! answered instead of a second one, and a second release of a repository conflicts. Starts that
//! arrive together go in one transaction ([`super::group_commit`]) without affecting each
//! other's outcome.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::types::Json;
use tracing::instrument;

use super::group_commit::{Batch, GroupCommit, Job, Outcomes};
use super::runs::{Started, under_way_by_pr};
use super::{ADVISORY_LOCK, BeginWrite, Dialect, NewRun, Store, StoreError, on_db};
use crate::domain::RepoName;

/// How a start is deduplicated by a delivery key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dedupe {
    /// Record the key with the run; a key known already starts nothing.
    New(String),
    /// Carry out the delivery recorded earlier under this key (an intent saved before its ack);
    /// one carried out already starts nothing.
    Recorded(String),
}

impl Dedupe {
    fn key(&self) -> &str {
        match self {
            Self::New(key) | Self::Recorded(key) => key,
        }
    }
}

pub(crate) type RunStarts = GroupCommit<Start>;

#[derive(Debug)]
pub(crate) struct Start {
    run: NewRun,
    dedupe: Option<Dedupe>,
    now: DateTime<Utc>,
}

/// A one-per-PR start whose PR already has a run of its kind under way answers that run.
/// PostgreSQL's concurrent starts for a PR take turns on a lock, so the second sees the first's
/// run; SQLite's writer is alone anyway.
macro_rules! answer_runs_under_way {
    ($tx:expr, $postgres:expr, $batch:expr, $outcomes:expr) => {{
        let one_per_pr: Vec<&Start> = $batch.iter().filter(|p| p.run.one_per_pr).collect();
        let prs: Vec<i64> = one_per_pr.iter().filter_map(|p| p.run.pr_id).collect();
        if !prs.is_empty() {
            if $postgres {
                for p in &one_per_pr {
                    let name = format!("one-per-pr:{}:{:?}", p.run.kind, p.run.pr_id);
                    sqlx::query(ADVISORY_LOCK)
                        .bind(name)
                        .execute(&mut **$tx)
                        .await?;
                }
            }
            let running = under_way_by_pr!(&mut **$tx, &prs)?;
            for (pending, outcome) in $batch.iter().zip($outcomes.iter_mut()) {
                let run = &pending.run;
                if let Some(pr) = run.pr_id.filter(|_| run.one_per_pr)
                    && let Some(under_way) = running.get(&(run.kind.clone(), pr))
                {
                    *outcome = Some(Ok(Started::AlreadyRunning(Box::new(under_way.clone()))));
                }
            }
        }
    }};
}

/// Records the open starts' new keys and claims their recorded deliveries; evaluates to the keys
/// that came back. A start whose key does not come back is a duplicate.
macro_rules! claim_keys {
    ($tx:expr, $batch:expr, $outcomes:expr) => {{
        let mut fresh: HashSet<String> = HashSet::new();
        let new: Vec<(&str, &Start)> = open($batch, $outcomes)
            .filter_map(|(_, p)| match &p.dedupe {
                Some(Dedupe::New(key)) => Some((key.as_str(), p)),
                _ => None,
            })
            .collect();
        if !new.is_empty() {
            let mut query = QueryBuilder::new(
                "INSERT INTO deliveries (key, source, intent, received_at, processed_at) ",
            );
            query.push_values(&new, |mut row, (key, p)| {
                row.push_bind(*key)
                    .push_bind(&p.run.started_by)
                    .push_bind(None::<Json<serde_json::Value>>)
                    .push_bind(p.now)
                    .push_bind(p.now);
            });
            query.push(" ON CONFLICT (key) DO NOTHING RETURNING key");
            fresh.extend(
                query
                    .build_query_scalar::<String>()
                    .fetch_all(&mut **$tx)
                    .await?,
            );
        }
        let recorded: Vec<(&str, DateTime<Utc>)> = open($batch, $outcomes)
            .filter_map(|(_, p)| match &p.dedupe {
                Some(Dedupe::Recorded(key)) => Some((key.as_str(), p.now)),
                _ => None,
            })
            .collect();
        if let Some(now) = recorded.iter().map(|(_, now)| *now).max() {
            let mut query = QueryBuilder::new("UPDATE deliveries SET processed_at = ");
            query
                .push_bind(now)
                .push(" WHERE processed_at IS NULL AND key IN (");
            let mut keys = query.separated(", ");
            for (key, _) in &recorded {
                keys.push_bind(*key);
            }
            query.push(") RETURNING key");
            fresh.extend(
                query
                    .build_query_scalar::<String>()
                    .fetch_all(&mut **$tx)
                    .await?,
            );
        }
        fresh
    }};
}

/// Inserts the runs of `$starting`; evaluates to the ids inserted. `DO NOTHING` rather than an
/// error where a unique index forbids a run (a second unfinished release of a repository), so
/// the other starts still commit.
macro_rules! insert_runs {
    ($tx:expr, $starting:expr) => {{
        let mut query = QueryBuilder::new(
            "INSERT INTO runs (id, kind, repo, pr_id, subject, step, state, status, \
             channel_id, started_by, created_at, updated_at) ",
        );
        query.push_values($starting, |mut row, p| {
            let run = &p.run;
            row.push_bind(run.id.to_string())
                .push_bind(run.kind.as_str())
                .push_bind(run.repo.as_ref().map(RepoName::as_str))
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
        let inserted: HashSet<String> = query
            .build_query_scalar()
            .fetch_all(&mut **$tx)
            .await?
            .into_iter()
            .collect();
        inserted
    }};
}

/// A refused start leaves its key as it found it: a new key unknown again, a recorded delivery
/// still to be carried out.
macro_rules! give_back_keys {
    ($tx:expr, $batch:expr, $refused:expr) => {{
        let (mut forget, mut reopen) = (Vec::new(), Vec::new());
        for &i in $refused {
            match &$batch[i].dedupe {
                Some(Dedupe::New(key)) => forget.push(key.as_str()),
                Some(Dedupe::Recorded(key)) => reopen.push(key.as_str()),
                None => {}
            }
        }
        for (keys, sql) in [
            (forget, "DELETE FROM deliveries WHERE key IN ("),
            (
                reopen,
                "UPDATE deliveries SET processed_at = NULL WHERE key IN (",
            ),
        ] {
            if keys.is_empty() {
                continue;
            }
            let mut query = QueryBuilder::new(sql);
            let mut bound = query.separated(", ");
            for key in keys {
                bound.push_bind(key);
            }
            query.push(")");
            query.build().execute(&mut **$tx).await?;
        }
    }};
}

/// The "started" audit entry of each created run.
macro_rules! audit_started {
    ($tx:expr, $batch:expr, $created:expr) => {{
        if !$created.is_empty() {
            let mut query = QueryBuilder::new(
                "INSERT INTO audit_log (run_id, actor, action, detail, via, at) ",
            );
            query.push_values($created, |mut row, &i| {
                let p = &$batch[i];
                row.push_bind(p.run.id.to_string())
                    .push_bind(&p.run.started_by)
                    .push_bind("started")
                    .push_bind(&p.run.subject)
                    .push_bind(started_via(p))
                    .push_bind(p.now);
            });
            query.build().execute(&mut **$tx).await?;
        }
    }};
}

/// What a start came through, for the audit trail: from its delivery key, or its starter.
fn started_via(start: &Start) -> Option<&'static str> {
    let key = start.dedupe.as_ref().map(Dedupe::key).unwrap_or_default();
    if key.starts_with("slack:") {
        Some("slash command")
    } else if key.starts_with("operator:") {
        Some("operator API")
    } else {
        match start.run.started_by.as_str() {
            "webhook" => Some("Azure DevOps webhook"),
            "poller" => Some("poller"),
            _ => None,
        }
    }
}

impl Store {
    /// Creates a run, with its "started" audit entry and, with `dedupe`, its delivery key in the
    /// same transaction; if the key is known (or its delivery carried out) nothing is created. A
    /// run marked `one_per_pr` is not created while an unfinished run of its kind about the same
    /// PR exists; that run is returned instead. `Conflict`: the kind allows one unfinished run
    /// per repository, and there is one.
    #[instrument(level = "debug", skip_all, fields(run_id = %run.id, kind = %run.kind))]
    pub async fn create_run(
        &self,
        run: &NewRun,
        dedupe: Option<&Dedupe>,
        now: DateTime<Utc>,
    ) -> Result<Started, StoreError> {
        let start = Start {
            run: run.clone(),
            dedupe: dedupe.cloned(),
            now,
        };
        self.starts.submit(self, start).await
    }

    /// The outcome of each start of `batch`, in order, all written in one transaction. `batch`
    /// holds no two starts with the same delivery key or the same one-per-PR subject (see
    /// `split` below). Each phase settles some starts; the next one sees only the open ones.
    async fn insert_starts(&self, batch: &[Start]) -> Outcomes<Started> {
        let mut outcomes: Vec<Option<Result<Started, StoreError>>> =
            batch.iter().map(|_| None).collect();
        let postgres = self.dialect() == Dialect::Postgres;
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            answer_runs_under_way!(&mut tx, postgres, batch, &mut outcomes);
            let fresh = claim_keys!(&mut tx, batch, &outcomes);
            mark_duplicates(batch, &fresh, &mut outcomes);
            let starting: Vec<&Start> = open(batch, &outcomes).map(|(_, p)| p).collect();
            if !starting.is_empty() {
                let inserted = insert_runs!(&mut tx, &starting);
                let (created, refused) = created_or_refused(batch, &outcomes, &inserted);
                give_back_keys!(&mut tx, batch, &refused);
                audit_started!(&mut tx, batch, &created);
                settle(&mut outcomes, &created, &refused);
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
    batch: &'a [Start],
    outcomes: &'a [Option<Result<Started, StoreError>>],
) -> impl Iterator<Item = (usize, &'a Start)> {
    batch
        .iter()
        .enumerate()
        .filter(|(i, _)| outcomes[*i].is_none())
}

/// Open starts whose delivery key did not come back from [`claim_keys!`] are duplicates.
fn mark_duplicates(
    batch: &[Start],
    fresh: &HashSet<String>,
    outcomes: &mut [Option<Result<Started, StoreError>>],
) {
    for (pending, outcome) in batch.iter().zip(outcomes) {
        if outcome.is_none()
            && pending
                .dedupe
                .as_ref()
                .is_some_and(|d| !fresh.contains(d.key()))
        {
            *outcome = Some(Ok(Started::Duplicate));
        }
    }
}

/// The open starts whose run was inserted, and those a unique index refused, by index.
fn created_or_refused(
    batch: &[Start],
    outcomes: &[Option<Result<Started, StoreError>>],
    inserted: &HashSet<String>,
) -> (Vec<usize>, Vec<usize>) {
    let (created, refused): (Vec<_>, Vec<_>) =
        open(batch, outcomes).partition(|(_, p)| inserted.contains(&p.run.id.to_string()));
    let index = |list: Vec<(usize, &Start)>| list.into_iter().map(|(i, _)| i).collect();
    (index(created), index(refused))
}

/// The last outcomes: created, or refused because the repository has a run of this kind.
fn settle(
    outcomes: &mut [Option<Result<Started, StoreError>>],
    created: &[usize],
    refused: &[usize],
) {
    for &i in created {
        outcomes[i] = Some(Ok(Started::Created));
    }
    for &i in refused {
        outcomes[i] = Some(Err(StoreError::Conflict(
            "another run of this kind is under way for the repository".into(),
        )));
    }
}

impl Batch for Start {
    type Outcome = Started;

    fn write(store: &Store, batch: &[Self]) -> impl Future<Output = Outcomes<Started>> + Send {
        store.insert_starts(batch)
    }

    /// Splits off the starts that repeat an earlier start's delivery key, or its kind and PR when
    /// one of them is one-per-PR. They wait for the next batch, where the first one's run (or key)
    /// is committed and answers them like any earlier request.
    fn split(batch: Vec<Job<Self>>) -> (Vec<Job<Self>>, Vec<Job<Self>>) {
        let mut keys = HashSet::new();
        let mut subjects = HashSet::new();
        batch.into_iter().partition(|job| {
            let start = &job.item;
            let key = start.dedupe.as_ref().map(|d| d.key().to_owned());
            let subject = start.run.pr_id.map(|pr| (start.run.kind.clone(), pr));
            let repeats_key = key.as_ref().is_some_and(|k| keys.contains(k));
            let repeats_pr =
                start.run.one_per_pr && subject.as_ref().is_some_and(|s| subjects.contains(s));
            if repeats_key || repeats_pr {
                return false;
            }
            keys.extend(key);
            subjects.extend(subject);
            true
        })
    }
}
