//! The settings the CLI gets with `--settings`: deny rules that keep its Read, Grep and Glob
//! tools inside the worktree, no hooks, and no CLAUDE.md from the reviewed repository.
//!
//! The CLI's permission rules cannot make exceptions (a deny always wins over an allow), so
//! "only the worktree" is written as "everything beside each directory on the way to it": at
//! every level from `/` down, each entry other than the next step gets `Read(//path/**)` and
//! `Read(//path)`. `//` starts an absolute path in the CLI's rules. This is defence in depth:
//! the sandbox (`sandbox.rs`) is what the kernel enforces.

use std::path::{Component, Path};

use serde_json::{Value, json};

/// The `--settings` value for a review in `tree` (an absolute, resolved path).
pub(super) fn settings(tree: &Path) -> Value {
    json!({
        "permissions": {
            "deny": deny_rules(tree, &|dir| list(dir)),
            "disableBypassPermissionsMode": "disable",
        },
        "disableAllHooks": true,
        "enableAllProjectMcpServers": false,
        "claudeMdExcludes": ["**/CLAUDE.md", "**/CLAUDE.local.md", "**/.claude/**"],
    })
}

/// The names in `dir`, or none when it cannot be read.
fn list(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Deny rules for every sibling of every directory from `/` down to `tree`.
fn deny_rules(tree: &Path, list: &dyn Fn(&Path) -> Vec<String>) -> Vec<String> {
    let mut rules = Vec::new();
    let mut dir = std::path::PathBuf::from("/");
    for step in tree.components().filter_map(|c| match c {
        Component::Normal(name) => name.to_str(),
        _ => None,
    }) {
        let mut names = list(&dir);
        names.sort();
        for name in names.iter().filter(|n| *n != step) {
            let path = dir.join(name).display().to_string();
            rules.push(format!("Read(/{path}/**)"));
            rules.push(format!("Read(/{path})"));
        }
        dir.push(step);
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_beside_the_way_to_the_worktree_is_denied() {
        let listing = |dir: &Path| -> Vec<String> {
            match dir.to_str() {
                Some("/") => vec!["etc".into(), "srv".into(), "proc".into()],
                Some("/srv") => vec!["bot.env".into(), "trees".into()],
                Some("/srv/trees") => vec!["ra-1".into(), "ra-2".into()],
                _ => vec!["inside".into()],
            }
        };
        let rules = deny_rules(Path::new("/srv/trees/ra-1"), &listing);
        assert_eq!(
            rules,
            [
                "Read(//etc/**)",
                "Read(//etc)",
                "Read(//proc/**)",
                "Read(//proc)",
                "Read(//srv/bot.env/**)",
                "Read(//srv/bot.env)",
                "Read(//srv/trees/ra-2/**)",
                "Read(//srv/trees/ra-2)",
            ]
        );
    }
}
