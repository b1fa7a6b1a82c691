//! release-agent: a Slack-first release bot for teams on Azure DevOps and Jira.
//!
//! It holds an outbound Slack Socket Mode connection, takes `/review` and `/release` commands and
//! approval clicks, and drives durable runs through their steps. Every step is checkpointed in the
//! database, so a restart continues where the last process stopped.
//!
//! # Layout
//! - [`domain`]: plain value types (ids parsed from text, versions, approver policy, rich text).
//! - [`workflow`]: the durable run engine, flows as typed steps, decisions on approvals.
//! - [`store`]: SQLite or PostgreSQL behind one `Store`; runs, approvals, audit, outbox, releases.
//! - [`slack`]: Socket Mode front door, command and action parsers, Block Kit renderers, the
//!   outbound queue.
//! - [`azdo`], [`jira`], [`git`], [`reviewer`], [`http_client`], [`proxy`], [`tls`]: the outside world. They say what
//!   happened and import nothing from the workflow.
//! - [`config`], [`telemetry`], [`startup`], [`check`], [`health`], [`cli`], [`import`], [`local_review`]:
//!   running the binary. Startup wires the parts; nothing below it reads the config.
//!
//! Reading order for a newcomer: `domain` → `workflow::flow` → `workflow::engine` → `store` →
//! `slack` → `startup`.
#![forbid(unsafe_code)]

pub mod azdo;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod git;
pub mod health;
pub mod http_client;
pub mod http_server;
pub mod import;
pub mod jira;
pub mod local_review;
pub mod metrics;
pub mod proxy;
pub mod reviewer;
pub mod slack;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod workflow;

/// The actor recorded in the audit log for what the bot does by itself.
pub const BOT_ACTOR: &str = "release-agent";
