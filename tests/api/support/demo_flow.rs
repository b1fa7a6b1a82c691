//! A test-only flow with a wait in the middle, whose effects land on the [`EffectService`]:
//!
//! ```text
//! prepare ──► ask ──(go)──► act ──► finish ──► done
//!  (effect)    │ wait        (effect,  (effect,
//!              │             reply)    reply)
//!              └──(stop)──► cancelled
//! ```
//!
//! Each effect goes through `StepContext::once` and, on a retry, first asks the service whether
//! the effect already happened, as a real flow would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use release_agent::domain::{ApprovalOption, Line, Message, OptionName, OptionStyle, RunKind};
use release_agent::workflow::{
    ApprovalRequest, Attempt, CardView, Flow, StepContext, StepError, Transition,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub const POINT: &str = "go-or-stop";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Demo {
    Prepare,
    Ask,
    Act { chosen_by: String },
    Finish { chosen_by: String },
    Finished,
}

/// What tests observe and steer from outside the flow.
#[derive(Default)]
pub struct Hooks {
    /// Step executions, by `run/step`.
    pub executions: Mutex<HashMap<String, u32>>,
    executed: AtomicUsize,
    /// Cancel this token once `stop_after` steps have executed (then the engine stops between
    /// two steps, as on a graceful shutdown).
    stop: Mutex<Option<(usize, CancellationToken)>>,
    /// How long the answer to each effect takes after the service caused it, to leave room for a
    /// crash between the effect and its record.
    pub effect_delay: Mutex<Duration>,
}

impl Hooks {
    pub fn stop_after(&self, steps: usize, token: CancellationToken) {
        *self.stop.lock().unwrap() = Some((steps, token));
    }

    pub fn executed(&self) -> usize {
        self.executed.load(Ordering::SeqCst)
    }

    fn record(&self, run: &str, step: &str) {
        *self
            .executions
            .lock()
            .unwrap()
            .entry(format!("{run}/{step}"))
            .or_default() += 1;
        let done = self.executed.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((after, token)) = self.stop.lock().unwrap().as_ref()
            && done >= *after
        {
            token.cancel();
        }
    }
}

pub struct DemoFlow {
    pub effects_url: String,
    pub hooks: Arc<Hooks>,
    http: reqwest::Client,
}

impl DemoFlow {
    pub fn new(effects_url: String, hooks: Arc<Hooks>) -> Self {
        Self {
            effects_url,
            hooks,
            http: reqwest::Client::new(),
        }
    }

    async fn cause(&self, ctx: &StepContext<'_>, name: &str) -> Result<String, StepError> {
        let run = ctx.run_id().to_string();
        let url = format!("{}/effects/{name}/{run}", self.effects_url);
        ctx.once(name, |attempt: Attempt| async move {
            if attempt.is_retry() {
                let found = self.http.get(&url).send().await.map_err(transient)?;
                if found.status().is_success() {
                    return found
                        .json::<serde_json::Value>()
                        .await
                        .map(|v| v["id"].to_string())
                        .map_err(transient);
                }
            }
            let response = self.http.post(&url).send().await.map_err(transient)?;
            let delay = *self.hooks.effect_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
            match response.status().as_u16() {
                201 => response
                    .json::<serde_json::Value>()
                    .await
                    .map(|v| v["id"].to_string())
                    .map_err(transient),
                400..=499 => Err(StepError::permanent(format!(
                    "{name} refused with {}",
                    response.status()
                ))),
                _ => Err(StepError::transient(format!(
                    "{name} failed with {}",
                    response.status()
                ))),
            }
        })
        .await
    }
}

fn transient(e: reqwest::Error) -> StepError {
    StepError::transient(e.to_string())
}

pub fn request() -> ApprovalRequest {
    let option = |name: &str, label: &str, style| ApprovalOption {
        name: OptionName::parse(name).unwrap(),
        label: label.into(),
        style,
    };
    ApprovalRequest {
        point: POINT.into(),
        decides: release_agent::domain::Decides::Release,
        author: None,
        deciders: None,
        prompt: "Go on with the demo?".into(),
        options: vec![
            option("go", "Go", OptionStyle::Primary),
            option(
                "stop",
                "Stop",
                OptionStyle::Destructive {
                    confirm: "Stop this demo run?".into(),
                },
            ),
        ],
    }
}

#[async_trait]
impl Flow for DemoFlow {
    type State = Demo;
    const KIND: RunKind = RunKind::named("demo");

    async fn step(
        &self,
        ctx: &StepContext<'_>,
        state: Demo,
    ) -> Result<Transition<Demo>, StepError> {
        let run = ctx.run_id().to_string();
        let step = serde_json::to_value(&state).unwrap()["step"]
            .as_str()
            .unwrap()
            .to_owned();
        let transition = match state {
            Demo::Prepare => {
                self.cause(ctx, "prepare").await?;
                Transition::go(Demo::Ask)
            }
            Demo::Ask => match ctx.decision(POINT) {
                None => Transition::wait(Demo::Ask, request()),
                Some(d) if d.option.as_str() == "go" => Transition::go(Demo::Act {
                    chosen_by: d.by.clone(),
                }),
                Some(d) => Transition::cancel(Demo::Ask, format!("stopped by {}", d.by)),
            },
            Demo::Act { chosen_by } => {
                self.cause(ctx, "act").await?;
                Transition::go(Demo::Finish { chosen_by })
                    .reply(Message::new([Line::from("Acted.")]))
            }
            Demo::Finish { chosen_by } => {
                self.cause(ctx, "finish").await?;
                Transition::done(Demo::Finished).reply(Message::new([Line::new()
                    .bold("Finished")
                    .plain(" after ")
                    .user(chosen_by)
                    .plain(" said go.")]))
            }
            Demo::Finished => Transition::done(Demo::Finished),
        };
        self.hooks.record(&run, &step);
        Ok(transition)
    }

    fn card(&self, state: &Demo) -> CardView {
        let step = serde_json::to_value(state).unwrap()["step"]
            .as_str()
            .unwrap()
            .to_owned();
        CardView {
            title: "Demo run".into(),
            lines: vec![Line::new().plain("Demo at ").code(step)],
        }
    }
}
