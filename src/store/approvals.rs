//! Approvals: a run's wait points. A decision is accepted at most once, by a compare-and-set on
//! `status = 'pending'`, in the same transaction that wakes the run and writes the audit entry.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use sqlx::types::Json;
use tracing::instrument;

use super::audit::insert_audit;
use super::deliveries::claim_delivery;
use super::{AuditEntry, BeginWrite, Store, StoreError, on_db, on_db_read, parse_column};
use crate::domain::{
    ApprovalId, ApprovalOption, ApprovalStatus, Approver, Deciders, Decides, Decision, RunId, Voter,
};

#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    pub id: ApprovalId,
    pub point: String,
    pub decides: Decides,
    pub author: Option<String>,
    pub deciders: Option<Deciders>,
    pub prompt: String,
    pub options: Vec<ApprovalOption>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRecord {
    pub id: ApprovalId,
    pub run_id: RunId,
    pub point: String,
    pub decides: Decides,
    /// Whose work this decides (a PR author's email), if anyone's.
    pub author: Option<String>,
    /// Who decides it instead of the policy's list (a stage's approvers in Azure DevOps).
    pub deciders: Option<Deciders>,
    pub prompt: String,
    pub options: Vec<ApprovalOption>,
    pub status: ApprovalStatus,
    /// How many distinct people must approve, once someone has (see [`Vote`]).
    pub required: u32,
    pub decided_option: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct ApprovalRow {
    id: String,
    run_id: String,
    point: String,
    decides: String,
    author: Option<String>,
    deciders: Option<Json<Vec<Approver>>>,
    prompt: String,
    options: Json<Vec<ApprovalOption>>,
    status: String,
    required: i64,
    decided_option: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl TryFrom<ApprovalRow> for ApprovalRecord {
    type Error = StoreError;

    fn try_from(row: ApprovalRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("{what} {value:?}"));
        Ok(Self {
            id: ApprovalId::parse(&row.id).ok_or_else(|| corrupt("approval id", &row.id))?,
            run_id: RunId::parse(&row.run_id).ok_or_else(|| corrupt("run id", &row.run_id))?,
            point: row.point,
            decides: Decides::parse(&row.decides)
                .ok_or_else(|| corrupt("decision kind", &row.decides))?,
            author: row.author,
            deciders: row.deciders.map(|list| Deciders::Only(list.0)),
            prompt: row.prompt,
            options: row.options.0,
            status: parse_column(&row.status)?,
            required: u32::try_from(row.required).unwrap_or(1),
            decided_option: row.decided_option,
            decided_by: row.decided_by,
            decided_at: row.decided_at,
            expires_at: row.expires_at,
            created_at: row.created_at,
        })
    }
}

fn approval_records(rows: Vec<ApprovalRow>) -> Result<Vec<ApprovalRecord>, StoreError> {
    rows.into_iter().map(ApprovalRecord::try_from).collect()
}

/// What became of an attempt to accept a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// This decision counts; the run is awake.
    Accepted,
    /// The delivery was already handled (by another replica); nothing to do.
    AlreadyHandled,
    /// The run cannot go on: another run of its kind holds its repository.
    Blocked,
    /// The approval stopped being pending meanwhile; read it again to explain why.
    NoLongerPending,
    /// One more person chose the option, which needs `required` in all; `so_far` have.
    /// `again`: this person had already, so nothing changed.
    Counted {
        so_far: u32,
        required: u32,
        again: bool,
    },
}

/// `SELECT … FROM approvals` followed by the given clauses.
macro_rules! select_approvals {
    ($rest:literal) => {
        concat!(
            "SELECT id, run_id, point, decides, author, deciders, prompt, options, status, required, decided_option, ",
            "decided_by, decided_at, expires_at, created_at FROM approvals ",
            $rest
        )
    };
}

const DECIDE: &str = "UPDATE approvals SET status = 'decided', decided_option = $2, decided_by = $3, \
     decided_at = $4 WHERE id = $1 AND status = 'pending' AND expires_at > $4";

/// Wakes a run that waits for this decision, or a failed run whose flow offered a retry. The lease
/// is dropped so the decision is taken up at once, even while a recheck of the wait runs: that
/// recheck ran without a decision, and a checkpoint of such a step requires that there still is
/// none (see `CHECKPOINT`), so it cannot overwrite this one.
const WAKE_RUN: &str = "UPDATE runs SET status = 'running', wake_at = NULL, decision = $2, \
     outcome = NULL, attempts = 0, polls = 0, lease_owner = NULL, lease_until = NULL, \
     card_version = card_version + 1, updated_at = $3 \
     WHERE id = $1 AND status IN ('waiting', 'failed')";

/// Before a vote: the approval is still open. On PostgreSQL this locks its row, so two voters
/// take turns and the second counts the first's vote.
const OPEN_VOTE: &str = "UPDATE approvals SET required = $2 WHERE id = $1 AND status = 'pending' \
     AND expires_at > $3";

const INSERT_VOTE: &str = "INSERT INTO approval_votes (approval_id, voter, voter_name, option, \
     voted_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (approval_id, voter) DO NOTHING";

const VOTERS: &str = "SELECT voter, voter_name FROM approval_votes WHERE approval_id = $1 \
     AND option = $2 ORDER BY voted_at, voter";

/// Records `decision` as a vote, once per person: `None` when the approval is no longer open,
/// else whether this person had voted already and everyone who chose the option so far.
macro_rules! cast_vote {
    ($exec:expr, $decision:expr, $required:expr, $now:expr) => {
        async {
            let decision: &Decision = $decision;
            let id = decision.approval.to_string();
            let option = decision.option.as_str();
            let open = sqlx::query(OPEN_VOTE)
                .bind(&id)
                .bind(i64::from($required))
                .bind($now)
                .execute(&mut *$exec)
                .await?;
            if open.rows_affected() == 0 {
                return Ok::<_, sqlx::Error>(None);
            }
            let cast = sqlx::query(INSERT_VOTE)
                .bind(&id)
                .bind(&decision.by)
                .bind(&decision.by_name)
                .bind(option)
                .bind($now)
                .execute(&mut *$exec)
                .await?;
            let voters: Vec<(String, Option<String>)> = sqlx::query_as(VOTERS)
                .bind(&id)
                .bind(option)
                .fetch_all(&mut *$exec)
                .await?;
            let voters = voters
                .into_iter()
                .map(|(by, by_name)| Voter { by, by_name })
                .collect::<Vec<_>>();
            Ok(Some((cast.rows_affected() == 0, voters)))
        }
        .await
    };
}

/// What was chosen where: `chose merge at merge`, `chose approve at stage (Production)`.
fn chose(decision: &Decision, decides: &Decides) -> String {
    let stage = match decides {
        Decides::Stage(name) => format!(" ({name})"),
        _ => String::new(),
    };
    format!("chose {} at {}{stage}", decision.option, decision.point)
}

/// How many people an option takes, and what the approval decides (for the audit entry).
#[derive(Debug, Clone, Copy)]
pub struct Ballot<'a> {
    pub required: u32,
    pub decides: &'a Decides,
}

/// The audit entry of a vote that does not complete its question yet.
fn vote_audit(
    run_id: RunId,
    decision: &Decision,
    decides: &Decides,
    so_far: u32,
    required: u32,
    again: bool,
) -> AuditEntry {
    let again = if again { " (counted already)" } else { "" };
    let detail = format!(
        "{}: {so_far} of {required}{again}",
        chose(decision, decides)
    );
    AuditEntry::new(Some(run_id), &decision.by, "vote", detail).via(decision.through.label())
}

/// The audit entry of a decision, naming the earlier voters when it took several people.
fn decision_audit(run_id: RunId, decision: &Decision, decides: &Decides) -> AuditEntry {
    let mut detail = chose(decision, decides);
    if !decision.earlier.is_empty() {
        let all = decision.earlier.len() + 1;
        let earlier: Vec<&str> = decision.earlier.iter().map(|v| v.by.as_str()).collect();
        detail.push_str(&format!(": {all} of {all}, with {}", earlier.join(", ")));
    }
    AuditEntry::new(Some(run_id), &decision.by, "decision", detail).via(decision.through.label())
}

/// A vote that does not complete the question still changes the card (its progress line).
const TOUCH_CARD: &str =
    "UPDATE runs SET card_version = card_version + 1, updated_at = $2 WHERE id = $1";

const EXPIRE: &str = "UPDATE approvals SET status = 'expired' WHERE id = $1 AND status = 'pending'";

/// A waiting run whose approval expired is cancelled; a failed one just loses its retry button.
const CANCEL_WAITING_RUN: &str = "UPDATE runs SET \
     status = CASE WHEN status = 'waiting' THEN 'cancelled' ELSE status END, \
     outcome = CASE WHEN status = 'waiting' THEN $2 ELSE outcome END, \
     card_version = card_version + 1, updated_at = $3 WHERE id = $1 AND status IN ('waiting', 'failed')";

impl Store {
    #[instrument(level = "debug", skip_all, fields(approval = %id))]
    pub async fn get_approval(&self, id: ApprovalId) -> Result<Option<ApprovalRecord>, StoreError> {
        let sql = select_approvals!("WHERE id = $1");
        let row: Option<ApprovalRow> = on_db_read!(self, pool =>
            sqlx::query_as(sql).bind(id.to_string()).fetch_optional(pool).await)?;
        row.map(ApprovalRecord::try_from).transpose()
    }

    /// The approvals of one run, oldest first.
    #[instrument(level = "debug", skip_all, fields(run_id = %run_id))]
    pub async fn approvals_for_run(
        &self,
        run_id: RunId,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let sql = select_approvals!("WHERE run_id = $1 ORDER BY created_at, id");
        let rows = on_db_read!(self, pool => sqlx::query_as(sql).bind(run_id.to_string()).fetch_all(pool).await)?;
        approval_records(rows)
    }

    /// Who chose `option` on an approval that needs several people, in the order they did.
    #[instrument(level = "debug", skip_all, fields(approval = %id))]
    pub async fn voters(&self, id: ApprovalId, option: &str) -> Result<Vec<Voter>, StoreError> {
        let rows: Vec<(String, Option<String>)> = on_db_read!(self, pool =>
            sqlx::query_as(VOTERS).bind(id.to_string()).bind(option).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(by, by_name)| Voter { by, by_name })
            .collect())
    }

    /// Approvals waiting for a decision, oldest first, up to `limit`.
    #[instrument(level = "debug", skip_all, fields(limit))]
    pub async fn pending_approvals(&self, limit: i64) -> Result<Vec<ApprovalRecord>, StoreError> {
        let sql = select_approvals!("WHERE status = 'pending' ORDER BY created_at, id LIMIT $1");
        let rows =
            on_db_read!(self, pool => sqlx::query_as(sql).bind(limit).fetch_all(pool).await)?;
        approval_records(rows)
    }

    /// How many approvals wait for a decision.
    #[instrument(level = "debug", skip_all)]
    pub async fn count_pending_approvals(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM approvals WHERE status = 'pending'";
        Ok(on_db_read!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await)?)
    }

    /// Pending approvals whose time is up.
    #[instrument(level = "debug", skip_all, fields(limit))]
    pub async fn due_expiries(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let sql = select_approvals!(
            "WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2"
        );
        let rows = on_db_read!(self, pool => sqlx::query_as(sql).bind(now).bind(limit).fetch_all(pool).await)?;
        approval_records(rows)
    }

    /// Accepts `decision` for the run that waits on it: marks the delivery handled, sets the
    /// approval to decided (only if still pending and unexpired), wakes the run with the decision
    /// and writes the audit entry, all or nothing. When `required` people must choose the option,
    /// the click is a vote (one per person) until the last one decides, with the others named
    /// in the decision.
    #[instrument(level = "debug", skip_all, fields(run_id = %run_id, option = %decision.option, by = %decision.by, key = delivery_key))]
    pub async fn accept_decision(
        &self,
        run_id: RunId,
        decision: &Decision,
        ballot: Ballot<'_>,
        delivery_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AcceptOutcome, StoreError> {
        let Ballot { required, decides } = ballot;
        let mut decision = decision.clone();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(key) = delivery_key
                && claim_delivery!(&mut *tx, key, now)? == 0
            {
                return Ok(AcceptOutcome::AlreadyHandled);
            }
            if required > 1 {
                let Some((again, voters)) = cast_vote!(&mut *tx, &decision, required, now)? else {
                    return Ok(AcceptOutcome::NoLongerPending);
                };
                let so_far = u32::try_from(voters.len()).unwrap_or(u32::MAX);
                if so_far < required {
                    insert_audit!(&mut *tx, vote_audit(run_id, &decision, decides, so_far, required, again), now)?;
                    if !again {
                        sqlx::query(TOUCH_CARD).bind(run_id.to_string()).bind(now).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    return Ok(AcceptOutcome::Counted { so_far, required, again });
                }
                decision.earlier = voters.into_iter().filter(|v| v.by != decision.by).collect();
            }
            let audit = decision_audit(run_id, &decision, decides);
            let decided = sqlx::query(DECIDE)
                .bind(decision.approval.to_string())
                .bind(decision.option.as_str())
                .bind(&decision.by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if decided.rows_affected() == 0 {
                return Ok(AcceptOutcome::NoLongerPending);
            }
            let woken = match sqlx::query(WAKE_RUN).bind(run_id.to_string()).bind(Json(&decision)).bind(now).execute(&mut *tx).await.map_err(super::runs::one_at_a_time) {
                Err(StoreError::Conflict(_)) => return Ok(AcceptOutcome::Blocked),
                other => other?,
            };
            if woken.rows_affected() == 0 {
                return Ok(AcceptOutcome::NoLongerPending);
            }
            insert_audit!(&mut *tx, audit, now)?;
            tx.commit().await?;
        });
        Ok(AcceptOutcome::Accepted)
    }

    /// Expires one pending approval and cancels its run with `reason`. `false`: it was no longer
    /// pending.
    #[instrument(level = "debug", skip_all, fields(approval = %approval.id, run_id = %approval.run_id))]
    pub async fn expire_approval(
        &self,
        approval: &ApprovalRecord,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let audit = AuditEntry::new(Some(approval.run_id), crate::BOT_ACTOR, "expired", reason);
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if sqlx::query(EXPIRE).bind(approval.id.to_string()).execute(&mut *tx).await?.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(CANCEL_WAITING_RUN).bind(approval.run_id.to_string()).bind(reason).bind(now).execute(&mut *tx).await?;
            insert_audit!(&mut *tx, audit, now)?;
            tx.commit().await?;
        });
        Ok(true)
    }
}
