//! Durable workflows.
//!
//! A run is a row in the store; a [`Flow`] says what each of its steps does; the [`Engine`]
//! executes one step at a time and checkpoints after each. Waiting for people is a state, not a
//! task: a step asks for an approval, the run becomes `waiting`, and [`intake`] accepts the one
//! decision that counts and wakes the run again.
//!
//! Read [`flow`] first (how a flow is written), then [`engine`], then [`decide`] and [`intake`].
//!
//! Nothing here imports `slack`, `startup` or `config`: startup hands each flow its clients and
//! settings, the intake reaches Slack through [`chat::Chat`], and [`step_error`] alone decides
//! what a client's failure means for a run.

pub mod acks_first;
pub mod card;
pub mod cd_approval;
pub mod chat;
pub mod ci;
pub mod decide;
pub mod engine;
pub mod flow;
pub mod freeze;
pub mod intake;
pub mod merge;
pub mod pr;
pub mod questions;
pub mod release;
pub mod step_error;
pub mod tickets;
mod transition;

pub use card::CardView;
pub use engine::{Engine, EngineSettings, Started, Subject, Wakers};
pub use flow::{Answered, ApprovalRequest, Asked, Attempt, Flow, Flows, StepContext, Transition};
pub use step_error::StepError;
