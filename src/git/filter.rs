//! Which changed files a review leaves out: lock files and generated code, always, and the globs
//! a repository's review rules add. A glob without a `/` matches the file's name in any
//! directory, as in `.gitignore`; one with a `/` matches the path from the repository's root.

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Lock files, minified and generated code: long, machine-written, and not where bugs are made.
const GENERATED: [&str; 17] = [
    "Cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "Gemfile.lock",
    "composer.lock",
    "go.sum",
    "packages.lock.json",
    "*.min.js",
    "*.min.css",
    "*.map",
    "*.pb.go",
    "*.Designer.cs",
];

#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    set: GlobSet,
}

impl PathFilter {
    /// Leaves nothing out.
    pub fn none() -> Self {
        Self::default()
    }

    /// Leaves out generated files and whatever matches `globs`; the error names a bad glob.
    pub fn generated_and(globs: &[String]) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        for glob in GENERATED
            .iter()
            .copied()
            .chain(globs.iter().map(String::as_str))
        {
            let pattern = glob.trim().trim_start_matches('/');
            let anywhere = if glob.contains('/') {
                pattern.to_owned()
            } else {
                format!("**/{pattern}")
            };
            let parsed = Glob::new(&anywhere).map_err(|e| format!("`{glob}`: {}", e.kind()))?;
            builder.add(parsed);
        }
        let set = builder
            .build()
            .map_err(|e| format!("the globs cannot be combined: {e}"))?;
        Ok(Self { set })
    }

    /// Whether the repository-relative `path` is left out.
    pub fn skips(&self, path: &str) -> bool {
        self.set.is_match(path.trim_start_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_and_the_rules_globs_are_left_out() {
        let filter = PathFilter::generated_and(&["docs/**".into(), "*.snap".into()]).unwrap();
        for skipped in [
            "Cargo.lock",
            "web/package-lock.json",
            "web/dist/app.min.js",
            "docs/guide/intro.md",
            "src/tests/snapshots/x.snap",
        ] {
            assert!(filter.skips(skipped), "{skipped}");
        }
        for kept in ["src/lib.rs", "src/docs/page.rs", "Cargo.toml", "lock.rs"] {
            assert!(!filter.skips(kept), "{kept}");
        }
        assert!(!PathFilter::none().skips("Cargo.lock"));
    }

    #[test]
    fn a_bad_glob_is_named() {
        let error = PathFilter::generated_and(&["src/[".into()]).unwrap_err();
        assert!(error.starts_with("`src/[`: "), "{error}");
    }
}
