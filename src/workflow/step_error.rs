//! What a failed step means for its run. The clients only say what happened (`is_transient`,
//! `retry_after`); this file is the one place that turns their errors into the engine's retry
//! policy: a transient failure is tried again later, anything else fails the run.

use std::fmt::Display;
use std::time::Duration;

use crate::azdo::AzdoError;
use crate::git::GitError;
use crate::http_client::HttpError;
use crate::jira::JiraError;
use crate::store::StoreError;

/// Why a step failed. Transient failures are retried with capped exponential backoff; permanent
/// ones fail the run, and the reason is shown on its card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("{reason}")]
    Transient {
        reason: String,
        /// The service asked us to wait this long (429/503 Retry-After).
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Permanent(String),
}

impl StepError {
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent(reason.into())
    }

    /// A client's failure, retried only when the client says the same call may work later.
    fn from_client(error: impl Display, transient: bool, retry_after: Option<Duration>) -> Self {
        if transient {
            Self::Transient {
                reason: error.to_string(),
                retry_after,
            }
        } else {
            Self::permanent(error.to_string())
        }
    }
}

/// Our own database failing is always worth another try.
impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        Self::transient(format!("store: {error}"))
    }
}

impl From<HttpError> for StepError {
    fn from(error: HttpError) -> Self {
        let (transient, wait) = (error.is_transient(), error.retry_after());
        Self::from_client(error, transient, wait)
    }
}

impl From<AzdoError> for StepError {
    fn from(error: AzdoError) -> Self {
        let (transient, wait) = (error.is_transient(), error.retry_after());
        Self::from_client(error, transient, wait)
    }
}

impl From<JiraError> for StepError {
    fn from(error: JiraError) -> Self {
        let (transient, wait) = (error.is_transient(), error.retry_after());
        Self::from_client(error, transient, wait)
    }
}

impl From<GitError> for StepError {
    fn from(error: GitError) -> Self {
        let transient = error.is_transient();
        Self::from_client(error, transient, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_request_is_retried_after_the_wait_the_service_asked_for() {
        let step: StepError = HttpError::RateLimited {
            service: "Azure DevOps",
            retry_after: Duration::from_secs(9),
        }
        .into();
        assert_eq!(
            step,
            StepError::Transient {
                reason: "Azure DevOps is throttling the bot; try again in 9s".into(),
                retry_after: Some(Duration::from_secs(9))
            }
        );
    }

    #[test]
    fn a_throttled_call_waits_as_the_service_asks_and_a_refusal_fails_the_run() {
        let throttled = AzdoError::Http(HttpError::RateLimited {
            service: "Azure DevOps",
            retry_after: Duration::from_secs(7),
        });
        assert!(matches!(
            StepError::from(throttled),
            StepError::Transient { retry_after: Some(wait), .. } if wait == Duration::from_secs(7)
        ));
        let stale = AzdoError::StaleSource {
            pr: 1,
            reviewed: "abc".into(),
            message: "TF401192".into(),
        };
        assert!(matches!(StepError::from(stale), StepError::Permanent(_)));
        let pending = AzdoError::MergePending {
            pr: 1,
            waited_s: 120,
        };
        assert!(matches!(
            StepError::from(pending),
            StepError::Transient {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn jira_and_git_failures_keep_their_message() {
        let jira = JiraError::Unexpected("no fields".into());
        assert_eq!(
            StepError::from(jira),
            StepError::permanent("Jira answered something unexpected: no fields")
        );
        let git = GitError::Command {
            dir: "/repos/a".into(),
            args: "fetch".into(),
            output: "timed out".into(),
        };
        assert!(matches!(StepError::from(git), StepError::Transient { .. }));
    }
}
