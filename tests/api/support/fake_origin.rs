//! Azure Repos' side of the fake: tags through the refs and annotated tags APIs, branches listed
//! and created through the refs API, and, once a test
//! links the fake to a real bare repository (`AzdoState::origin`), PR completions that merge for
//! real there, branch heads read from it, and tags written into it. Without an origin, tags live
//! in `AzdoState::tags` and merges make up their commit ids.
//!
//! The shapes follow the 7.1 REST specification (`GitRef` with `peeledObjectId` under
//! `peelTags=true`, `GitAnnotatedTag`). Approximations: the error answers (a tag whose name
//! exists: 409; a missing name or object: 400; an object that is not in the repository: 404) are
//! not documented, so their statuses and TF texts are guesses; and a completion in a linked
//! origin makes a merge commit for every strategy but `squash` (rebase strategies are not
//! modelled).

use std::path::Path;

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::fake_azdo::{AzdoState, list, ok};
use super::repo::git;

/// A tag as the fake's origin holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTag {
    pub name: String,
    pub commit: String,
    pub message: String,
}

pub fn route(
    state: &mut AzdoState,
    method: &str,
    path: &[&str],
    query: &std::collections::BTreeMap<String, String>,
    body: &Value,
) -> Option<ResponseTemplate> {
    match (method, path) {
        ("GET", ["org", "Proj", "_apis", "git", "repositories", _, "refs"]) => {
            let filter = query.get("filter").cloned().unwrap_or_default();
            let prefix = format!("refs/{filter}");
            let peel = query.get("peelTags").is_some_and(|p| p == "true");
            let mut refs: Vec<Value> = tags(state)
                .into_iter()
                .filter(|t| format!("refs/tags/{}", t.name).starts_with(&prefix))
                .map(|t| {
                    let mut r = json!({"name": format!("refs/tags/{}", t.name), "objectId": format!("tagobj-{}", t.commit)});
                    if peel {
                        r["peeledObjectId"] = json!(t.commit);
                    }
                    r
                })
                .collect();
            refs.extend(
                branches(state)
                    .into_iter()
                    .filter(|(name, _)| format!("refs/heads/{name}").starts_with(&prefix))
                    .map(|(name, commit)| json!({"name": format!("refs/heads/{name}"), "objectId": commit})),
            );
            Some(list(refs))
        }
        ("POST", ["org", "Proj", "_apis", "git", "repositories", _, "refs"]) => {
            let results = body
                .as_array()
                .into_iter()
                .flatten()
                .map(|update| create_ref(state, update))
                .collect();
            Some(list(results))
        }
        (
            "POST",
            [
                "org",
                "Proj",
                "_apis",
                "git",
                "repositories",
                _,
                "annotatedtags",
            ],
        ) => {
            let name = body["name"].as_str().unwrap_or_default().to_owned();
            let commit = body["taggedObject"]["objectId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let message = body["message"].as_str().unwrap_or_default().to_owned();
            if name.is_empty() || commit.is_empty() {
                return Some(ResponseTemplate::new(400).set_body_json(json!({"message": "Value cannot be null.\r\nParameter name: tagObject", "typeKey": "ArgumentNullException"})));
            }
            if tags(state).iter().any(|t| t.name == name) {
                return Some(ResponseTemplate::new(409).set_body_json(json!({"message": format!("TF401035: The ref refs/tags/{name} already exists."), "typeKey": "GitRefUpdateRejectedException"})));
            }
            if let Some(origin) = &state.origin {
                let output = std::process::Command::new("git")
                    .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
                    .current_dir(origin)
                    .output()
                    .unwrap();
                if !output.status.success() {
                    return Some(ResponseTemplate::new(404).set_body_json(json!({"message": format!("TF401175: The version descriptor <Commit: {commit}> could not be resolved to a version in the repository."), "typeKey": "GitUnresolvableToCommitException"})));
                }
                git(origin, &["tag", "-a", &name, &commit, "-m", &message]);
            }
            state.tags.push(FakeTag {
                name: name.clone(),
                commit: commit.clone(),
                message: message.clone(),
            });
            Some(ok(
                json!({"name": name, "objectId": format!("tagobj-{commit}"), "message": message,
                "taggedObject": {"objectId": commit, "objectType": "commit"}}),
            ))
        }
        _ => None,
    }
}

/// One ref update of `POST refs`: only creations (from the zero id) of branches are modelled.
/// Approximation: the status for a branch that exists already (`staleOldObjectId`) is not
/// documented for this case.
fn create_ref(state: &mut AzdoState, update: &Value) -> Value {
    let name = update["name"].as_str().unwrap_or_default().to_owned();
    let commit = update["newObjectId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let zero = update["oldObjectId"]
        .as_str()
        .is_some_and(|o| o.chars().all(|c| c == '0'));
    let branch = name
        .strip_prefix("refs/heads/")
        .unwrap_or_default()
        .to_owned();
    let exists = branches(state).iter().any(|(b, _)| *b == branch);
    let status = if branch.is_empty() {
        "invalidRefName"
    } else if !zero || exists {
        "staleOldObjectId"
    } else {
        match &state.origin {
            Some(origin) => {
                git(origin, &["update-ref", &name, &commit, ""]);
            }
            None => {
                state.heads.insert(branch.clone(), commit.clone());
            }
        }
        state.branches_created.push((branch, commit.clone()));
        "succeeded"
    };
    json!({"name": name, "newObjectId": commit, "oldObjectId": update["oldObjectId"],
        "success": status == "succeeded", "updateStatus": status})
}

/// The branches: read from the linked origin, or the heads the fake was given.
pub fn branches(state: &AzdoState) -> Vec<(String, String)> {
    let Some(origin) = &state.origin else {
        return state
            .heads
            .iter()
            .map(|(b, c)| (b.clone(), c.clone()))
            .collect();
    };
    git(
        origin,
        &[
            "for-each-ref",
            "refs/heads",
            "--format=%(refname:lstrip=2) %(objectname)",
        ],
    )
    .lines()
    .filter_map(|line| line.split_once(' '))
    .map(|(b, c)| (b.to_owned(), c.to_owned()))
    .collect()
}

/// The tags of the origin: read from the linked repository, or as the fake recorded them.
pub fn tags(state: &AzdoState) -> Vec<FakeTag> {
    let Some(origin) = &state.origin else {
        return state.tags.clone();
    };
    let listed = git(
        origin,
        &[
            "for-each-ref",
            "refs/tags",
            "--format=%(refname:short) %(*objectname) %(objectname)",
        ],
    );
    listed
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let name = parts.next()?.to_owned();
            let peeled = parts.next().filter(|p| !p.is_empty());
            let object = parts.next()?;
            Some(FakeTag {
                commit: peeled.unwrap_or(object).to_owned(),
                message: git(origin, &["tag", "-l", "--format=%(contents)", &name]),
                name,
            })
        })
        .collect()
}

/// The head of `branch` in the linked origin.
pub fn head(state: &AzdoState, branch: &str) -> Option<String> {
    let origin = state.origin.as_ref()?;
    let output = std::process::Command::new("git")
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ])
        .current_dir(origin)
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8(output.stdout).unwrap().trim().to_owned())
}

/// Merges `source` into `target` in the linked origin as a completion does: with a merge
/// commit, or with `squash` a commit whose only parent is the target; returns that commit.
/// `None` without an origin, or when `target` is not a branch there.
pub fn merge(
    state: &AzdoState,
    source: &str,
    target: &str,
    message: &str,
    squash: bool,
) -> Option<String> {
    let origin = state.origin.as_ref()?;
    let base = head(state, target)?;
    Some(merge_in(origin, &base, source, target, message, squash))
}

/// Deletes `branch` in the linked origin, as a completion with `deleteSourceBranch` does.
pub fn delete_branch(state: &AzdoState, branch: &str) {
    if let Some(origin) = &state.origin {
        git(
            origin,
            &["update-ref", "-d", &format!("refs/heads/{branch}")],
        );
    }
}

fn merge_in(
    origin: &Path,
    base: &str,
    source: &str,
    target: &str,
    message: &str,
    squash: bool,
) -> String {
    let tree = git(origin, &["merge-tree", "--write-tree", base, source]);
    let tree = tree.lines().next().unwrap().to_owned();
    let mut args = vec!["commit-tree", &tree, "-p", base];
    if !squash {
        args.extend(["-p", source]);
    }
    args.extend(["-m", message]);
    let commit = git(origin, &args);
    let commit = commit.trim().to_owned();
    git(
        origin,
        &["update-ref", &format!("refs/heads/{target}"), &commit, base],
    );
    commit
}
