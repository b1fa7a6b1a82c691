//! One integration-test binary. `support` holds the harness: the real application against a fake
//! Slack (HTTP + Socket Mode), a fake effect service and a fresh database per test. Tests that
//! need PostgreSQL run when `TEST_DATABASE_URL` is set and say they were skipped otherwise.

mod approvals;
mod azdo;
mod bad_input;
mod churn;
mod cli;
mod containers;
mod converge;
mod crash;
mod decisions;
mod durability;
mod engine;
mod freezes;
mod front_door;
mod git;
mod home;
mod hostile;
mod hotfixes;
mod http;
mod jira;
mod jira_workflows;
mod manifest;
mod mentions;
mod outage;
mod policies;
mod pr_flow;
mod projects;
mod proxy;
mod redelivery;
mod release_flow;
mod reviewer;
mod server_versions;
mod slack_http;
mod store;
mod support;
mod threads;
mod versions;
mod yaml_cd;
