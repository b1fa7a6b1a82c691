//! One file as a commit has it, read from the object database (no checkout).

use std::path::Path;

use git2::{ErrorCode, Repository};

use super::GitError;

/// The text of `path` at revision `rev` (as git reads it), or None when the commit has no such
/// file.
pub async fn file_at(repo_dir: &Path, rev: &str, path: &str) -> Result<Option<String>, GitError> {
    let (dir, rev, path) = (repo_dir.to_owned(), rev.to_owned(), path.to_owned());
    tokio::task::spawn_blocking(move || {
        let fail = |what: &str, e: git2::Error| GitError::local(what, &dir, e.message());
        let repo = Repository::open(&dir).map_err(|e| fail("opening the repository", e))?;
        let tree = repo
            .revparse_single(&rev)
            .and_then(|o| o.peel_to_tree())
            .map_err(|e| fail(&format!("reading the tree of {rev}"), e))?;
        let entry = match tree.get_path(Path::new(&path)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(fail(&format!("finding {path}"), e)),
        };
        let blob = entry
            .to_object(&repo)
            .and_then(|o| o.peel_to_blob())
            .map_err(|e| fail(&format!("reading {path}"), e))?;
        Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
    })
    .await
    .map_err(|e| GitError::local("reading a file", repo_dir, e))?
}
