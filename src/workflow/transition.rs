//! What a step returns: the next state, what the engine does next (go on, poll, wait for a
//! decision, finish, cancel, fail), the replies for the card's thread and the note for its audit
//! entry; and what a wait asks ([`ApprovalRequest`]).

use std::time::Duration;

use crate::domain::{ApprovalOption, Deciders, Decides, Message, RepoName};

/// A wait point: what to ask and which options to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    pub point: String,
    /// The decision asked for, which picks who may answer (REPOS_CONFIG's `approvers`).
    pub decides: Decides,
    /// Whose work this decides (a PR author's email): under the four-eyes rule, not theirs to
    /// decide.
    pub author: Option<String>,
    /// Who decides this one question, instead of the policy's list: the people Azure DevOps
    /// lists as a stage's approvers (`from_azure_devops`).
    pub deciders: Option<Deciders>,
    pub prompt: String,
    pub options: Vec<ApprovalOption>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    Continue,
    /// Run this step again after `after`, at most `max_polls` times in a row.
    Poll {
        after: Duration,
        max_polls: u32,
    },
    /// Wait for a decision; with `recheck`, also run the step again after that long (without
    /// a decision), so it can notice that what it waits for was settled elsewhere.
    Wait {
        request: ApprovalRequest,
        recheck: Option<Duration>,
    },
    Done,
    Cancel(String),
    /// The work itself failed (a CI build, a deployment): the run ends failed with this reason.
    /// With `retry`, its card offers those options; a decision wakes the run at its state.
    Fail {
        reason: String,
        retry: Option<ApprovalRequest>,
    },
}

/// What a step returns.
#[derive(Debug, Clone)]
pub struct Transition<S> {
    pub(crate) state: S,
    pub(crate) next: Next,
    pub(crate) replies: Vec<Message>,
    pub(crate) note: Option<String>,
    /// What the step's audit entry came through, when not the bot's own work.
    pub(crate) via: Option<&'static str>,
    /// The repository the run turned out to be about, for a run started without one.
    pub(crate) repo: Option<String>,
}

impl<S> Transition<S> {
    fn new(state: S, next: Next) -> Self {
        Self {
            state,
            next,
            replies: Vec::new(),
            note: None,
            via: None,
            repo: None,
        }
    }

    /// Checkpoint and run the next step at once.
    pub fn go(state: S) -> Self {
        Self::new(state, Next::Continue)
    }

    /// Checkpoint and run the same step again after `after`. The run fails once the step has
    /// polled `max_polls` times in a row, so no polling loop runs forever.
    pub fn poll(state: S, after: Duration, max_polls: u32) -> Self {
        Self::new(state, Next::Poll { after, max_polls })
    }

    /// Checkpoint and wait for someone to choose one of the request's options.
    pub fn wait(state: S, request: ApprovalRequest) -> Self {
        Self::new(
            state,
            Next::Wait {
                request,
                recheck: None,
            },
        )
    }

    /// Like [`wait`](Self::wait), and the step also runs again every `after` without a
    /// decision, to look whether what it asks about was decided elsewhere (an approval given in
    /// Azure DevOps). Asking the same again keeps the same buttons.
    pub fn wait_rechecking(state: S, request: ApprovalRequest, after: Duration) -> Self {
        Self::new(
            state,
            Next::Wait {
                request,
                recheck: Some(after),
            },
        )
    }

    pub fn done(state: S) -> Self {
        Self::new(state, Next::Done)
    }

    pub fn cancel(state: S, reason: impl Into<String>) -> Self {
        Self::new(state, Next::Cancel(reason.into()))
    }

    /// Ends the run as failed: what it drove did not succeed (not the bot itself).
    pub fn fail(state: S, reason: impl Into<String>) -> Self {
        Self::new(
            state,
            Next::Fail {
                reason: reason.into(),
                retry: None,
            },
        )
    }

    /// Ends the run as failed, and offers `retry` on its card: whoever chooses an option wakes
    /// the run at `state` (unless another run now holds its repository), as after a wait.
    pub fn fail_with_retry(state: S, reason: impl Into<String>, retry: ApprovalRequest) -> Self {
        Self::new(
            state,
            Next::Fail {
                reason: reason.into(),
                retry: Some(retry),
            },
        )
    }

    /// Posts `message` in the card's thread, exactly once: it is queued in the checkpoint's
    /// transaction.
    pub fn reply(mut self, message: Message) -> Self {
        self.replies.push(message);
        self
    }

    /// Adds a detail to the step's audit entry.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Adds `note` to the step's audit entry for what someone settled in Azure DevOps itself (an
    /// approval given there, a PR merged there): the audit trail says it came through there.
    pub fn settled_in_azure_devops(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self.via = Some("Azure DevOps");
        self
    }

    /// Records that the run is about `repo` (a `/review 12` learns it from the PR), so what
    /// depends on a run's repository (its approvers, a freeze) applies.
    pub fn about(mut self, repo: &RepoName) -> Self {
        self.repo = Some(repo.to_string());
        self
    }

    pub(super) fn map_state<T, E>(
        self,
        f: impl FnOnce(S) -> Result<T, E>,
    ) -> Result<Transition<T>, E> {
        Ok(Transition {
            state: f(self.state)?,
            next: self.next,
            replies: self.replies,
            note: self.note,
            via: self.via,
            repo: self.repo,
        })
    }
}
