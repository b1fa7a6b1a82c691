//! A repository's release history and CD, as the release tests and benchmarks start from them.

use chrono::{DateTime, Utc};
use release_agent::domain::{RunId, Version};
use release_agent::store::{StagedPr, StagingRelease, Store};

use super::fake_azdo::FakeAzdo;
use super::fake_cd::StagePlan;

pub const DEVELOP_HEAD: &str = "d0d0d0d0aaaa1111";

/// Records `version` of Billo.Api as released (staged, shipped and archived) at `now`.
pub async fn released_on(store: &Store, version: Version, now: DateTime<Utc>) {
    let release = StagingRelease {
        repo: "Billo.Api".into(),
        version,
        started_at: now,
        tickets: vec!["ALLPOST-1".into()],
        prs: vec![StagedPr::merged(1, "first", "", &[])],
    };
    store.put_staging(&release, now).await.unwrap();
    let run = RunId::new().to_string();
    store.ship("Billo.Api", &run, None, now).await.unwrap();
    store
        .archive_shipping("Billo.Api", version, &run, now, None)
        .await
        .unwrap();
}

/// develop's head for release PRs, and CD that deploys main to Sandbox, then Production, each
/// after an approval.
pub fn prepare_cd(azdo: &FakeAzdo) {
    let mut state = azdo.state.lock().unwrap();
    state.heads.insert("develop".into(), DEVELOP_HEAD.into());
    state.cd.branch = "main".into();
    state.cd.plan = vec![
        StagePlan::approved("Sandbox"),
        StagePlan::approved("Production"),
    ];
}
