//! Slack: the front door (Socket Mode), the parsers and renderers around it, and the way out (the
//! outbound queue). Handlers stay thin: parse, persist the intent, ack. Everything slow happens
//! after the ack, in the intake and the engine.
//!
//! Read `front_door.rs` first, then `socket_mode.rs`, `commands.rs`, `blocks/` and `outbound.rs`.

pub mod actions;
pub mod approvers;
pub mod blocks;
pub mod commands;
pub mod front_door;
pub mod home;
pub mod link;
pub mod mrkdwn;
pub mod outbound;
#[cfg(test)]
mod rendered;
pub mod socket_mode;
pub mod web;
pub mod workspace;
