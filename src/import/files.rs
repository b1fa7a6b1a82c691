//! Reading the old agent's release files: every `*.json` under a directory, each parsed into
//! releases or refused whole with the reason (the shapes are in the module above).

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::domain::{RepoName, Version};
use crate::store::{ArchivedRelease, StagedPr, StagingRelease};

/// The releases one file holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileReleases {
    pub staging: Vec<StagingRelease>,
    pub archived: Vec<ArchivedRelease>,
}

/// One file: its releases, or why it was refused.
pub type ReadFile = (PathBuf, Result<FileReleases, String>);

/// Every `*.json` under `dir`, in name order, each parsed or refused with the reason.
pub fn read_dir(dir: &Path) -> Result<Vec<ReadFile>, String> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    files.sort();
    Ok(files
        .into_iter()
        .map(|path| {
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|text| parse_file(&path, &text));
            (path, parsed)
        })
        .collect())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Parses one file; `path` supplies the repository when the file does not name it.
pub fn parse_file(path: &Path, text: &str) -> Result<FileReleases, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = FileReleases::default();
    match &value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                release(item, None, path, &mut out)
                    .map_err(|e| format!("release #{}: {e}", i + 1))?;
            }
        }
        Value::Object(map) if map.contains_key("version") => release(&value, None, path, &mut out)?,
        Value::Object(map) => {
            let repo = text_field(map, &["repo", "repository"]);
            let staging = first(map, &["staging", "current"]);
            let archived = first(map, &["archived", "released", "history", "releases"]);
            if staging.is_none() && archived.is_none() {
                return Err(
                    "no `version`, `staging` or `archived`: not a release file this tool knows"
                        .into(),
                );
            }
            if let Some(staging) = staging.filter(|s| !s.is_null()) {
                let before = out.archived.len();
                release(staging, repo.as_deref(), path, &mut out)
                    .map_err(|e| format!("staging: {e}"))?;
                if out.archived.len() > before {
                    return Err("staging: a staging release cannot have `released_at`".into());
                }
            }
            if let Some(list) = archived {
                let items = list
                    .as_array()
                    .ok_or("the archived releases are not a list")?;
                for (i, item) in items.iter().enumerate() {
                    let released = item
                        .as_object()
                        .and_then(|o| first(o, &RELEASED_AT))
                        .is_some_and(|v| !v.is_null());
                    if !released {
                        return Err(format!("archived release #{}: no `released_at`", i + 1));
                    }
                    release(item, repo.as_deref(), path, &mut out)
                        .map_err(|e| format!("archived release #{}: {e}", i + 1))?;
                }
            }
        }
        _ => return Err("neither a JSON object nor a list of releases".into()),
    }
    Ok(out)
}

/// The names the old files used for the release date.
const RELEASED_AT: [&str; 3] = ["released_at", "releasedAt", "release_date"];

fn first<'a>(map: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| map.get(*k))
}

fn text_field(map: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    first(map, keys).and_then(Value::as_str).map(str::to_owned)
}

/// One release object, into `out.staging` or `out.archived`.
fn release(
    value: &Value,
    repo: Option<&str>,
    path: &Path,
    out: &mut FileReleases,
) -> Result<(), String> {
    let map = value.as_object().ok_or("a release must be a JSON object")?;
    let repo = match text_field(map, &["repo", "repository"]).or(repo.map(str::to_owned)) {
        Some(repo) => repo,
        None => repo_from_path(path)?,
    };
    let repo = RepoName::parse(&repo)?.to_string();
    let version_text = text_field(map, &["version"]).ok_or("missing `version`")?;
    let version: Version = version_text
        .trim_start_matches(['v', 'V'])
        .parse()
        .map_err(|e| format!("version {version_text:?}: {e}"))?;
    let tickets = tickets(map.get("tickets"))?;
    let prs = prs(map.get("prs").or_else(|| map.get("pull_requests")))?;
    let released_at = first(map, &RELEASED_AT)
        .filter(|v| !v.is_null())
        .map(|v| date(v, "released_at"))
        .transpose()?;
    let started_at = first(map, &["started_at", "startedAt", "created_at"])
        .filter(|v| !v.is_null())
        .map(|v| date(v, "started_at"))
        .transpose()?;
    match released_at {
        Some(released_at) => out.archived.push(ArchivedRelease {
            repo,
            version,
            started_at: started_at.unwrap_or(released_at),
            tickets,
            prs,
            released_at,
            cd: None,
            hotfix: None,
        }),
        None => out.staging.push(StagingRelease {
            repo,
            version,
            started_at: started_at.ok_or("a staging release needs `started_at`")?,
            tickets,
            prs,
        }),
    }
    Ok(())
}

/// `Billo.Api.json` → Billo.Api; `Billo.Api/staging.json` or `Billo.Api/1.4.2.json` → Billo.Api.
fn repo_from_path(path: &Path) -> Result<String, String> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let generic = stem.eq_ignore_ascii_case("staging")
        || stem.eq_ignore_ascii_case("archive")
        || stem
            .trim_start_matches(['v', 'V'])
            .parse::<Version>()
            .is_ok();
    let name = if generic {
        path.parent()
            .and_then(Path::file_name)
            .and_then(|s| s.to_str())
            .unwrap_or_default()
    } else {
        stem
    };
    if name.is_empty() {
        Err("no `repo`, and the file's name does not say which repository".into())
    } else {
        Ok(name.to_owned())
    }
}

fn tickets(value: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = value.as_array().ok_or("`tickets` is not a list")?;
    items
        .iter()
        .map(|t| match t {
            Value::String(key) => Ok(key.clone()),
            Value::Object(o) => text_field(o, &["key", "id", "ticket"])
                .ok_or_else(|| format!("a ticket without `key`: {t}")),
            other => Err(format!("a ticket must be a key or an object, not {other}")),
        })
        .collect()
}

fn prs(value: Option<&Value>) -> Result<Vec<StagedPr>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = value.as_array().ok_or("`prs` is not a list")?;
    items
        .iter()
        .map(|p| {
            match p {
                Value::Number(n) => n.as_i64().map(|id| StagedPr::merged(id, "", "", &[])),
                Value::Object(o) => first(o, &["id", "pr_id", "pullRequestId"])
                    .and_then(Value::as_i64)
                    .map(|id| {
                        let title = text_field(o, &["title"]).unwrap_or_default();
                        StagedPr::merged(id, &title, "", &[])
                    }),
                _ => None,
            }
            .ok_or_else(|| format!("a PR must be a number or an object with `id`, not {p}"))
        })
        .collect()
}

fn date(value: &Value, field: &str) -> Result<DateTime<Utc>, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("`{field}` is not a date string"))?;
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(at) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(at.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| format!("`{field}` {text:?} is not a date (RFC 3339 or YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_file_gives_its_staging_and_archive() {
        let text = r#"{"repo": "Billo.Api",
            "staging": {"version": "1.4.3", "started_at": "2026-03-01", "tickets": ["ALLPOST-3"]},
            "released": [{"version": "v1.4.2", "started_at": "2026-02-01T09:00:00Z",
                          "released_at": "2026-02-20", "tickets": [{"key": "ALLPOST-2", "summary": "x"}],
                          "prs": [21, {"id": 22, "title": "Reset"}]}]}"#;
        let file = parse_file(Path::new("any.json"), text).unwrap();
        assert_eq!(file.staging[0].version, Version::new(1, 4, 3));
        let old = &file.archived[0];
        assert_eq!(
            (old.repo.as_str(), old.version),
            ("Billo.Api", Version::new(1, 4, 2))
        );
        assert_eq!(old.tickets, ["ALLPOST-2"]);
        assert_eq!(old.prs[1], StagedPr::merged(22, "Reset", "", &[]));
        assert_eq!(old.released_at.to_rfc3339(), "2026-02-20T00:00:00+00:00");
    }

    #[test]
    fn the_repository_comes_from_the_path_when_the_file_does_not_name_it() {
        let one = r#"{"version": "2.0.0", "released_at": "2026-01-05", "tickets": []}"#;
        let file = parse_file(Path::new("releases/Billo.Web/2.0.0.json"), one).unwrap();
        assert_eq!(file.archived[0].repo, "Billo.Web");
        let list = r#"[{"version": "1.0.0", "released_at": "2026-01-05", "tickets": []}]"#;
        let file = parse_file(Path::new("releases/Billo.Api.json"), list).unwrap();
        assert_eq!(file.archived[0].repo, "Billo.Api");
    }

    #[test]
    fn malformed_files_say_what_is_wrong() {
        let cases = [
            (
                "{",
                "not JSON: EOF while parsing an object at line 1 column 1",
            ),
            (
                r#"{"hello": 1}"#,
                "no `version`, `staging` or `archived`: not a release file this tool knows",
            ),
            (
                r#"{"repo": "A", "released": [{"version": "1.x", "released_at": "2026-01-01"}]}"#,
                "archived release #1: version \"1.x\": ",
            ),
            (
                r#"{"repo": "A", "released": [{"version": "1.0.0"}]}"#,
                "archived release #1: no `released_at`",
            ),
            (
                r#"{"repo": "A", "released": [{"version": "1.0.0", "released_at": "last tuesday"}]}"#,
                "archived release #1: `released_at` \"last tuesday\" is not a date (RFC 3339 or YYYY-MM-DD)",
            ),
            (
                r#"{"repo": "A/B", "version": "1.0.0", "released_at": "2026-01-01"}"#,
                "repository name",
            ),
        ];
        for (text, reason) in cases {
            let err = parse_file(Path::new("x.json"), text).unwrap_err();
            assert!(
                err.starts_with(reason) || err.contains(reason),
                "{text}: {err}"
            );
        }
    }
}
