//! CI builds as both workflows use them: queue the build of a merge commit (or adopt the one a CI
//! trigger already queued), then look at it until it finishes or the wait is over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::azdo::{AzureDevOps, Build, BuildState};
use crate::domain::{Line, Message, RepoName};
use crate::workflow::{StepContext, StepError};

/// A build a run follows, with the last state seen (for its card).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildRef {
    pub id: i64,
    pub number: String,
    pub url: String,
    #[serde(default)]
    pub state: String,
}

impl BuildRef {
    pub fn of(build: &Build) -> Self {
        let state = match build.state {
            BuildState::Queued => "queued",
            BuildState::Running => "running",
            BuildState::Succeeded => "succeeded",
            BuildState::PartiallySucceeded => "partially succeeded",
            BuildState::Failed => "failed",
            BuildState::Canceled => "canceled",
        };
        Self {
            id: build.id,
            number: build.number.clone(),
            url: build.web_url.clone(),
            state: state.into(),
        }
    }

    /// `CI: build 2026.1 <outcome>`, linked, for a thread or a card.
    pub fn line(&self, outcome: &str) -> Line {
        Line::new()
            .plain("CI: ")
            .link(self.url.clone(), format!("build {}", self.number))
            .plain(format!(" {outcome}"))
    }

    /// The card's line: the last state seen.
    pub fn card_line(&self) -> Line {
        self.line(if self.state.is_empty() {
            "queued"
        } else {
            &self.state
        })
    }
}

/// Where and what to build.
pub struct BuildOrder<'a> {
    pub repo: &'a RepoName,
    /// The REPOS_CONFIG override of the CI definition, if any.
    pub definition: Option<&'a str>,
    pub branch: &'a str,
    /// The merge commit; empty when Azure DevOps did not say.
    pub commit: &'a str,
    /// Builds of this commit that failed: a retry queues a new build rather than adopt them.
    pub failed: &'a [i64],
}

/// A build of `order.commit` that is already queued (by a CI trigger, or by an earlier attempt)
/// and did not fail before.
pub async fn already_queued(
    azdo: &dyn AzureDevOps,
    order: &BuildOrder<'_>,
) -> Result<Option<Build>, StepError> {
    if order.commit.is_empty() {
        return Ok(None);
    }
    let definition = azdo.ci_definition(order.repo, order.definition).await?;
    let recent = azdo
        .recent_builds(order.repo, definition.id, order.branch)
        .await?;
    Ok(recent.into_iter().find(|b| {
        b.source_commit.as_deref() == Some(order.commit) && !order.failed.contains(&b.id)
    }))
}

/// Queues the CI build of `order.commit`, once per run and attempt, or adopts a build already
/// queued for it.
pub async fn queue_or_adopt(
    ctx: &StepContext<'_>,
    azdo: &dyn AzureDevOps,
    order: &BuildOrder<'_>,
) -> Result<BuildRef, StepError> {
    let mut name = format!("build:{}:{}", order.branch, order.commit);
    if !order.failed.is_empty() {
        name = format!("{name}:retry-{}", order.failed.len());
    }
    ctx.once(&name, |_| async {
        let build = match already_queued(azdo, order).await? {
            Some(build) => build,
            None => {
                let definition = azdo.ci_definition(order.repo, order.definition).await?;
                let at = (!order.commit.is_empty()).then_some(order.commit);
                azdo.queue_build(order.repo, definition.id, order.branch, at)
                    .await?
            }
        };
        Ok::<_, StepError>(BuildRef::of(&build))
    })
    .await
}

/// What one look at a build found. A build that stopped being watched comes with the reason
/// the run gives and the reply for its thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    Passed(BuildRef),
    Stopped {
        build: BuildRef,
        /// It failed (rather than still running after the longest wait).
        failed: bool,
        reason: String,
        reply: Message,
    },
    Running(BuildRef),
}

/// How long to wait for a build, how often to look, and what counts as passing.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub interval: Duration,
    pub max_wait: Duration,
    /// A build that partially succeeded passes (REPOS_CONFIG `accept_partially_succeeded`).
    pub accept_partial: bool,
}

impl Patience {
    /// The poll cap the engine enforces: the looks that fit in the wait, plus a margin for
    /// retries.
    pub fn max_polls(self) -> u32 {
        let polls = self
            .max_wait
            .as_secs()
            .div_ceil(self.interval.as_secs().max(1))
            .saturating_add(10);
        u32::try_from(polls).unwrap_or(u32::MAX)
    }

    pub fn over(self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        (now - since).to_std().unwrap_or_default() >= self.max_wait
    }
}

pub async fn look(
    azdo: &dyn AzureDevOps,
    repo: &RepoName,
    build: i64,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    patience: Patience,
) -> Result<Look, StepError> {
    let seen = azdo.build(repo, build).await?;
    let build = BuildRef::of(&seen);
    Ok(match seen.state {
        BuildState::Succeeded => Look::Passed(build),
        BuildState::PartiallySucceeded if patience.accept_partial => Look::Passed(build),
        state if state.is_finished() => Look::Stopped {
            reason: format!("CI build {} {}", build.number, build.state),
            reply: reply(&build, &build.state),
            failed: true,
            build,
        },
        _ if patience.over(since, now) => Look::Stopped {
            reason: format!(
                "CI build {} did not finish within {}; it is still {}",
                build.number,
                human(patience.max_wait),
                build.state
            ),
            reply: reply(&build, "still running when the bot stopped waiting"),
            failed: false,
            build,
        },
        _ => Look::Running(build),
    })
}

/// A thread reply about a build.
pub fn reply(build: &BuildRef, outcome: &str) -> Message {
    Message::new([build.line(outcome)])
}

/// `45 s`, `30 min`.
pub fn human(duration: Duration) -> String {
    match duration.as_secs() {
        s if s < 120 => format!("{s} s"),
        s => format!("{} min", s.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_counts_the_looks_that_fit_in_the_wait() {
        let patience = Patience {
            interval: Duration::from_secs(30),
            max_wait: Duration::from_secs(1800),
            accept_partial: false,
        };
        assert_eq!(patience.max_polls(), 70);
        let since = Utc::now();
        assert!(!patience.over(since, since + chrono::TimeDelta::seconds(1799)));
        assert!(patience.over(since, since + chrono::TimeDelta::seconds(1800)));
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_secs(1800)), "30 min");
    }
}
