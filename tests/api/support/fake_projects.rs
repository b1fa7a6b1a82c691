//! Projects for the fake Azure DevOps. Every repository is in `Proj` unless a test moves it
//! (`FakeAzdo::in_project`). Like the real service, a call is scoped by the project in its path:
//! an unknown project is refused (TF200016), a repository asked for in another project than its
//! own is not found (TF401019), and so is a PR (TF401180). The routes then answer as for `Proj`.
//! Approximation: builds and classic releases are not checked against their project.

use serde_json::json;
use wiremock::ResponseTemplate;

use super::fake_azdo::AzdoState;

/// The project `repo` is in.
pub fn project_of(state: &AzdoState, repo: &str) -> &'static str {
    state
        .projects
        .get(&repo.to_ascii_lowercase())
        .copied()
        .unwrap_or("Proj")
}

/// The id Azure DevOps gives `project` in the fake.
pub fn project_id(project: &str) -> String {
    format!("{}-guid", project.to_ascii_lowercase())
}

fn not_found(message: String) -> Option<ResponseTemplate> {
    Some(ResponseTemplate::new(404).set_body_json(json!({"$id": "1", "innerException": null, "message": message, "errorCode": 0, "eventId": 3000})))
}

/// Checks the project of a `/org/{project}/_apis/…` path, then rewrites it to `Proj`, so the
/// routes answer; or the refusal Azure DevOps would give.
pub fn scope(state: &AzdoState, path: &mut [String]) -> Option<ResponseTemplate> {
    if path.len() < 3 || path[2] != "_apis" {
        return None;
    }
    let project = path[1].clone();
    let known = project == "Proj" || state.projects.values().any(|p| *p == project);
    if !known {
        return not_found(format!(
            "TF200016: The following project does not exist: {project}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server."
        ));
    }
    if let Some(i) = path.iter().position(|s| s == "repositories")
        && let Some(repo) = path.get(i + 1)
        && project_of(state, repo) != project
    {
        return not_found(format!(
            "TF401019: The Git repository with name or identifier {repo} does not exist or you do not have permissions for the operation you are attempting."
        ));
    }
    if let [_, _, _, git, prs, id, ..] = path
        && git == "git"
        && prs.eq_ignore_ascii_case("pullrequests")
        && let Some(pr) = id.parse().ok().and_then(|id: u32| state.prs.get(&id))
        && project_of(state, &pr.repo) != project
    {
        return not_found("TF401180: The requested pull request was not found.".into());
    }
    path[1] = "Proj".into();
    None
}
