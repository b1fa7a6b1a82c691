//! `release-agent import-json --source DIR [--dry-run]`: brings the old agent's per-repository
//! JSON release files into the store, the staging release and the archive alike.
//!
//! The old files had no schema, so these shapes are accepted, in any `*.json` under DIR:
//! - a repository file: `{"repo": …, "staging": {release} | null, "archived": [{release}, …]}`
//!   (`released`, `history` or `releases` for the list; `current` for staging);
//! - one release: `{"repo": …, "version": …, "released_at": …}` (archived) or without
//!   `released_at` (staging);
//! - a list of releases.
//!
//! A release has `version` ("1.4.2" or "v1.4.2"), `tickets` (keys, or objects with `key`), and
//! optionally `started_at`, `released_at` (RFC 3339 or YYYY-MM-DD), `prs` (numbers, or objects with
//! `id` and `title`) and `repo`. Without `repo`, the file's name (`Billo.Api.json`) or, for
//! `staging.json` and `1.4.2.json`, its directory's name is the repository.
//!
//! A file that does not parse is refused whole, with its name and the reason. What is already in
//! the store is left alone, so a second run imports nothing.
//!
//! `files.rs` reads the files; this file brings their releases into the store.

mod files;

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use crate::config::env_lookup;
use crate::store::{DatabaseUrl, Store, StoreError};

pub use files::{FileReleases, ReadFile, parse_file, read_dir};

/// `release-agent import-json`: it needs only DATABASE_URL. Exits 1 when a file was refused, 2
/// when nothing could be imported at all.
pub fn command(source: &Path, dry_run: bool) -> ExitCode {
    let database = match database_url() {
        Ok(database) => database,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let files = match read_dir(source) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("release-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("cannot start the async runtime");
        return ExitCode::from(2);
    };
    runtime.block_on(import_all(&database, files, dry_run))
}

/// DATABASE_URL from the environment or `.env`, or the default SQLite file.
fn database_url() -> Result<DatabaseUrl, String> {
    let lookup = env_lookup().map_err(|e| e.to_string())?;
    let url = lookup("DATABASE_URL").unwrap_or_else(|| DatabaseUrl::DEFAULT.into());
    DatabaseUrl::parse(&url).map_err(|e| format!("DATABASE_URL: {e}"))
}

/// Imports every file that parsed, printing a line per release and per refused file.
async fn import_all(database: &DatabaseUrl, files: Vec<ReadFile>, dry_run: bool) -> ExitCode {
    let store = match open(database).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("release-agent: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut refused, mut imported) = (0, 0);
    for (path, parsed) in files {
        let releases = match parsed {
            Ok(releases) => releases,
            Err(reason) => {
                refused += 1;
                println!(
                    "refused {}: {reason} (nothing from it was imported)",
                    path.display()
                );
                continue;
            }
        };
        match apply(&store, &releases, dry_run, Utc::now()).await {
            Ok(lines) => imported += print(&lines, &path, dry_run),
            Err(e) => {
                eprintln!("release-agent: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let verb = if dry_run { "would import" } else { "imported" };
    println!("{verb} {imported} release(s); {refused} file(s) refused");
    store.close().await;
    if refused > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn open(database: &DatabaseUrl) -> Result<Store, String> {
    let store = Store::connect(database)
        .await
        .map_err(|e| format!("cannot open {}: {e}", database.redacted()))?;
    store
        .migrate()
        .await
        .map_err(|e| format!("cannot migrate the database: {e}"))?;
    Ok(store)
}

/// Prints one file's lines; returns how many releases it imported.
fn print(lines: &[(Fate, String)], path: &Path, dry_run: bool) -> usize {
    for (fate, what) in lines {
        println!(
            "{} (from {})",
            describe(*fate, what, dry_run),
            path.display()
        );
    }
    lines
        .iter()
        .filter(|(fate, _)| *fate == Fate::Imported)
        .count()
}

/// What became of one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Imported,
    AlreadyThere,
}

/// Imports (or, dry, only looks at) the releases of one file; one line per release.
pub async fn apply(
    store: &Store,
    releases: &FileReleases,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Vec<(Fate, String)>, StoreError> {
    let mut lines = Vec::new();
    for release in &releases.archived {
        let what = format!(
            "released {} {} ({})",
            release.repo,
            release.version,
            release.released_at.date_naive()
        );
        let there = store
            .archived(&release.repo)
            .await?
            .iter()
            .any(|r| r.version == release.version);
        let fate = if there || (!dry_run && !store.archive_release(release).await?) {
            Fate::AlreadyThere
        } else {
            Fate::Imported
        };
        lines.push((fate, what));
    }
    for release in &releases.staging {
        let what = format!("staging {} {}", release.repo, release.version);
        let current = store.staging(&release.repo).await?;
        let fate = if current.is_some() || (!dry_run && !store.import_staging(release, now).await?)
        {
            Fate::AlreadyThere
        } else {
            Fate::Imported
        };
        let what = match current.filter(|c| c.version != release.version) {
            Some(c) => format!("{what} (the repository already stages {}; kept)", c.version),
            None => what,
        };
        lines.push((fate, what));
    }
    Ok(lines)
}

/// The line printed for one release.
pub fn describe(fate: Fate, what: &str, dry_run: bool) -> String {
    match (fate, dry_run) {
        (Fate::Imported, true) => format!("would import {what}"),
        (Fate::Imported, false) => format!("imported {what}"),
        (Fate::AlreadyThere, _) => format!("already there: {what}"),
    }
}
