//! How a flow is written.
//!
//! A flow is a typed state (a serde enum, one variant per step) and one async `step` function that
//! runs the step the state is at and returns a [`Transition`]: the next state and what the engine
//! does next (continue, poll again later, wait for a decision, finish, cancel). The engine
//! checkpoints the new state after every step, so a step must be safe to run again: effects go
//! through [`StepContext::once`], which records them in the effect journal.
//!
//! A waiting step is entered twice: first without a decision (it returns [`Transition::wait`]),
//! then, once someone decides, with [`StepContext::decision`] set.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::card::CardView;
use super::step_error::StepError;
pub(crate) use super::transition::Next;
pub use super::transition::{ApprovalRequest, Transition};
use crate::domain::{ApprovalOption, Decision, OptionStyle, RunId, RunKind};
use crate::store::{EffectEntry, RunRecord, Store};

#[async_trait]
pub trait Flow: Send + Sync + 'static {
    /// The run's state. Tag it with its step (`#[serde(tag = "step")]`) so the stored JSON, the
    /// audit log and the card name the step.
    type State: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The run kind this flow drives, stored with each run.
    const KIND: RunKind;

    async fn step(
        &self,
        ctx: &StepContext<'_>,
        state: Self::State,
    ) -> Result<Transition<Self::State>, StepError>;

    /// What the run's card shows about this state. Pure.
    fn card(&self, state: &Self::State) -> CardView;

    /// The Retry a run of this flow offers on its card when a step at `state` fails with an
    /// error, or gives up on one that did not pass: choosing it runs the step again. `None`:
    /// the run just fails.
    fn retry_on_error(&self, _state: &Self::State) -> Option<ApprovalRequest> {
        None
    }

    /// Carries out what someone asked in the run card's thread (`workflow::questions`), at this
    /// state: answers a question, or closes an ignored finding's thread. `None`: this flow
    /// takes no questions.
    async fn follow_up(
        &self,
        _state: &Self::State,
        _asked: &Asked,
    ) -> Option<Result<Answered, StepError>> {
        None
    }
}

/// What a mention in a card's thread asks of the run's flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// A question for the reviewer.
    Question(String),
    /// Close the thread of the finding with this fingerprint as won't fix, naming who asked.
    CloseThread { fingerprint: String, by: String },
}

/// A flow's answer to what was asked, and what asking the reviewer cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub text: String,
    pub cost_usd: Option<f64>,
    pub tokens: Option<u64>,
}

/// An option a flow offers. Flows name options with literals, which a test of each flow checks.
pub fn option(name: &'static str, label: impl Into<String>, style: OptionStyle) -> ApprovalOption {
    ApprovalOption {
        name: crate::domain::OptionName::parse(name)
            .expect("the flow's option names are valid (each flow's tests check them)"),
        label: label.into(),
        style,
    }
}

/// Which attempt at an effect this is. A retry means an earlier attempt may have reached the
/// service before it was cut off: look for the effect before causing it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt(pub i64);

impl Attempt {
    pub fn is_retry(self) -> bool {
        self.0 > 1
    }
}

/// What a step may know and do besides its state.
pub struct StepContext<'a> {
    pub(crate) run: &'a RunRecord,
    pub(crate) store: &'a Store,
    pub(crate) now: DateTime<Utc>,
}

impl StepContext<'_> {
    pub fn run_id(&self) -> RunId {
        self.run.id
    }

    pub fn run(&self) -> &RunRecord {
        self.run
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The store, for steps whose effect is a write of our own (a staging release, a dedupe key).
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Cancels every other unfinished run of this kind about the same PR, saying why; their
    /// pending approvals become superseded. Returns how many there were.
    pub async fn supersede_others(&self, reason: &str) -> Result<usize, StepError> {
        let Some(pr) = self.run.pr_id else {
            return Ok(0);
        };
        let mut superseded = 0;
        for other in self
            .store
            .unfinished_runs_for_pr(self.run.kind.clone(), pr)
            .await?
        {
            if other.id != self.run.id
                && self
                    .store
                    .supersede_run(other.id, reason, crate::BOT_ACTOR, self.now)
                    .await?
            {
                superseded += 1;
            }
        }
        Ok(superseded)
    }

    /// The decision that woke this run, if it answers the wait point `point`.
    pub fn decision(&self, point: &str) -> Option<&Decision> {
        self.run.decision.as_ref().filter(|d| d.point == point)
    }

    /// Causes an external effect at most once per run under `name`. A recorded result is
    /// returned without calling again; otherwise the attempt is recorded, `call` runs, and its
    /// result is recorded. A failed call leaves the effect open for the next attempt.
    pub async fn once<T, F, Fut>(&self, name: &str, call: F) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Attempt) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let run = self.run.id;
        let attempt = match self.store.start_effect(run, name, self.now).await? {
            EffectEntry::Started { attempts } => Attempt(attempts),
            EffectEntry::Done(value) => {
                return serde_json::from_value(value).map_err(|e| {
                    StepError::permanent(format!("recorded result of {name} is unreadable: {e}"))
                });
            }
        };
        let result = call(attempt).await?;
        let value = serde_json::to_value(&result).map_err(|e| {
            StepError::permanent(format!("result of {name} cannot be recorded: {e}"))
        })?;
        // Done is done: a database away for a while is waited for rather than the effect
        // repeated (the engine aborts a step that outlives shutdown's grace).
        let forever = tokio_util::sync::CancellationToken::new();
        self.store
            .saved(&forever, || {
                self.store.finish_effect(run, name, &value, self.now)
            })
            .await?;
        Ok(result)
    }
}

/// A flow with its state type erased to JSON, so the engine can hold flows of any state type.
#[async_trait]
pub(crate) trait ErasedFlow: Send + Sync {
    async fn step(
        &self,
        ctx: &StepContext<'_>,
        state: Value,
    ) -> Result<Transition<Value>, StepError>;
    fn card(&self, state: &Value) -> Result<CardView, String>;
    fn retry_on_error(&self, state: &Value) -> Option<ApprovalRequest>;
    async fn follow_up(&self, state: &Value, asked: &Asked) -> Option<Result<Answered, StepError>>;
}

struct Erased<F>(F);

#[async_trait]
impl<F: Flow> ErasedFlow for Erased<F> {
    async fn step(
        &self,
        ctx: &StepContext<'_>,
        state: Value,
    ) -> Result<Transition<Value>, StepError> {
        let state: F::State = serde_json::from_value(state).map_err(|e| {
            StepError::permanent(format!(
                "the stored state does not fit the {} flow: {e}",
                F::KIND
            ))
        })?;
        self.0
            .step(ctx, state)
            .await?
            .map_state(serde_json::to_value)
            .map_err(|e| StepError::permanent(format!("the new state cannot be stored: {e}")))
    }

    fn card(&self, state: &Value) -> Result<CardView, String> {
        let state: F::State = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
        Ok(self.0.card(&state))
    }

    fn retry_on_error(&self, state: &Value) -> Option<ApprovalRequest> {
        let state: F::State = serde_json::from_value(state.clone()).ok()?;
        self.0.retry_on_error(&state)
    }

    async fn follow_up(&self, state: &Value, asked: &Asked) -> Option<Result<Answered, StepError>> {
        match serde_json::from_value::<F::State>(state.clone()) {
            Ok(state) => self.0.follow_up(&state, asked).await,
            Err(e) => Some(Err(StepError::permanent(format!(
                "the stored state does not fit the {} flow: {e}",
                F::KIND
            )))),
        }
    }
}

/// The flows this process can drive, by run kind.
#[derive(Clone, Default)]
pub struct Flows {
    by_kind: HashMap<RunKind, Arc<dyn ErasedFlow>>,
}

impl Flows {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with<F: Flow>(mut self, flow: F) -> Self {
        self.by_kind.insert(F::KIND, Arc::new(Erased(flow)));
        self
    }

    pub fn knows(&self, kind: &RunKind) -> bool {
        self.by_kind.contains_key(kind)
    }

    pub(crate) fn get(&self, kind: &RunKind) -> Option<&Arc<dyn ErasedFlow>> {
        self.by_kind.get(kind)
    }

    /// The answer of `kind`'s flow to what was `asked` of a run at `state`; `None` when no flow
    /// here takes it.
    pub async fn follow_up(
        &self,
        kind: &RunKind,
        state: &Value,
        asked: &Asked,
    ) -> Option<Result<Answered, StepError>> {
        self.get(kind)?.follow_up(state, asked).await
    }

    /// The card view of a stored state, or `None` when no flow here understands it.
    pub fn card(&self, kind: &RunKind, state: &Value) -> Option<CardView> {
        self.get(kind)?.card(state).ok()
    }
}

/// The step a stored state is at: its `step` tag, or the variant name of an externally tagged
/// enum.
pub fn step_name(state: &Value) -> String {
    match state {
        Value::Object(map) => match map.get("step") {
            Some(Value::String(step)) => step.clone(),
            _ if map.len() == 1 => map.keys().next().cloned().unwrap_or_default(),
            _ => "state".into(),
        },
        Value::String(variant) => variant.clone(),
        _ => "state".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn step_names_come_from_the_tag_or_the_variant() {
        assert_eq!(step_name(&json!({"step": "merge", "pr": 1})), "merge");
        assert_eq!(step_name(&json!({"Review": {"pr": 1}})), "Review");
        assert_eq!(step_name(&json!("Done")), "Done");
        assert_eq!(step_name(&json!({"a": 1, "b": 2})), "state");
    }
}
