//! The version tag: once the release PR is merged, its merge commit gets an annotated tag in the
//! repository's `tag_format`, with the release notes as its message, through Azure DevOps.

use super::state::{ReleaseRun, ReleaseStep};
use super::{ReleaseFlow, Step, notes, retry};
use crate::domain::{Line, Message, Version};
use crate::workflow::pr::view::short;
use crate::workflow::{StepContext, StepError, Transition};

impl ReleaseFlow {
    /// Tags the merge commit, once. A tag of that name that already points at the merge commit
    /// (an earlier attempt's, or someone's by hand) is kept; one on another commit stops the
    /// release with Retry, because a version must name one commit.
    pub(super) async fn tag(&self, ctx: &StepContext<'_>, run: ReleaseRun) -> Step {
        let repo = self.repo(&run)?;
        let commit = run
            .merge_commit
            .clone()
            .ok_or_else(|| StepError::permanent("the run lost track of its merge commit"))?;
        let version: Version = run
            .version
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(StepError::permanent)?;
        let name = self.repos_config.for_repo(&repo).tag_format.name(version);
        match self.azdo.tagged_commit(&repo, &name).await? {
            Some(tagged) if tagged == commit => {}
            Some(tagged) => {
                let reason = format!(
                    "the tag {name} already exists in {repo}, on {} and not on the release's \
                     merge commit {}",
                    short(&tagged),
                    short(&commit)
                );
                let prompt = format!("Delete or rename {name} in Azure DevOps, then tag again?");
                return Ok(Transition::fail_with_retry(
                    run.at(ReleaseStep::Tag),
                    reason,
                    retry(&prompt),
                ));
            }
            None => {
                let message = notes::markdown(&run);
                ctx.once(&format!("tag:{name}"), |_| async {
                    Ok::<_, StepError>(
                        self.azdo
                            .create_tag(&repo, &name, &commit, &message)
                            .await?,
                    )
                })
                .await?;
            }
        }
        // A release that takes this one over after a failure needs another version.
        let run_id = ctx.run_id().to_string();
        ctx.store().mark_tagged(repo.as_str(), &run_id).await?;
        let reply = Message::new([Line::new()
            .plain(format!("Tagged {name} on "))
            .code(short(&commit))]);
        Ok(Transition::go(run.at(ReleaseStep::FixVersions)).reply(reply))
    }
}
