//! Slack: the front door (over Socket Mode, or over HTTP through `http_server::slack`, with
//! `signature.rs`), the parsers and renderers around it, and the way out (the outbound queue).
//! Handlers stay thin: parse, persist the intent, ack. Everything slow happens after the ack, in
//! the intake and the engine.
//!
//! Read `front_door.rs` first (with `intents.rs`), then `dispatch.rs`, `socket_mode/`, `commands.rs`, `blocks/` and
//! `outbound.rs`.

pub mod actions;
pub mod approvers;
pub mod blocks;
pub mod commands;
pub mod dispatch;
pub mod front_door;
pub mod help;
pub mod home;
mod intents;
mod lanes;
pub mod link;
pub mod live_home;
pub mod mrkdwn;
pub mod outbound;
mod pacer;
mod posted;
#[cfg(test)]
mod rendered;
pub mod signature;
mod slack_error;
pub mod socket_mode;
pub mod web;
pub mod workspace;
