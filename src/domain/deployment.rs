//! What deployed a release, kept with the run and the archive so a rollback can deploy the
//! same thing again.

use serde::{Deserialize, Serialize};

use super::CdKind;

/// What deploys the CI build: the classic release Azure DevOps created from it, or a YAML
/// pipeline run (the CI build itself, or a run of the CD pipeline it triggered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdRelease {
    /// The release id, or the run's build id.
    pub id: i64,
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub kind: CdKind,
}
