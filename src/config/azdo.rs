//! The Azure DevOps section: an organization (or a Server collection URL), a project and a PAT.
//! Optional: set none of its variables and the bot runs without reviews and releases.

use url::Url;

use super::reader::{Reader, parse_base_url, parse_word};
use crate::azdo::AzdoSettings;
use crate::http_client::RetryPolicy;

pub(super) const VARS: [&str; 6] = [
    "AZDO_ORGANIZATION",
    "AZDO_BASE_URL",
    "AZDO_PROJECT",
    "AZDO_PAT",
    "AZDO_RELEASE_BASE_URL",
    "AZDO_IDENTITY_BASE_URL",
];

/// `Some(None)`: Azure DevOps is off; `None`: something is wrong (already reported).
pub(super) fn read(vars: &mut Reader<'_>, retry: RetryPolicy) -> Option<Option<AzdoSettings>> {
    if !vars.any_set(&VARS) {
        return Some(None);
    }
    let base = base_url(vars);
    let release = vars.optional("AZDO_RELEASE_BASE_URL", parse_base_url);
    let identity = vars.optional("AZDO_IDENTITY_BASE_URL", parse_base_url);
    let project = vars.required(
        "AZDO_PROJECT",
        "the Azure DevOps project of the repositories",
    );
    let pat = vars.secret(
        "AZDO_PAT",
        "a personal access token with Code, Build and Release scopes",
    );
    let api_version = vars.parsed("AZDO_API_VERSION", "auto", parse_api_version);
    let base = base?;
    let release = release?.unwrap_or_else(|| cloud_host(&base, "vsrm"));
    let identity = identity?.unwrap_or_else(|| cloud_host(&base, "vssps"));
    let mut settings = AzdoSettings::new(base, release, &project?, pat?);
    settings.identity_base_url = identity;
    (settings.api_version, settings.negotiate_version) = api_version?;
    settings.retry = retry;
    Some(Some(settings))
}

/// AZDO_BASE_URL as given, or the cloud URL of AZDO_ORGANIZATION.
fn base_url(vars: &mut Reader<'_>) -> Option<Url> {
    let organization = vars.value("AZDO_ORGANIZATION");
    match (vars.value("AZDO_BASE_URL"), &organization) {
        (Some(url), _) => vars.check("AZDO_BASE_URL", url, parse_base_url),
        (None, Some(org)) => vars.check("AZDO_ORGANIZATION", org.clone(), |org| {
            parse_word("organization name")(org)
                .and_then(|org| parse_base_url(&format!("https://dev.azure.com/{org}")))
        }),
        (None, None) => {
            vars.fail(
                "AZDO_ORGANIZATION",
                "is required: the organization name (or set AZDO_BASE_URL to a collection URL)"
                    .into(),
            );
            None
        }
    }
}

/// `auto`: start at 7.1 and take the version a server names when it refuses it; or a fixed
/// version such as `6.0`.
fn parse_api_version(text: &str) -> Result<(String, bool), String> {
    if text.eq_ignore_ascii_case("auto") {
        Ok(("7.1".to_owned(), true))
    } else if text
        .split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok((text.to_owned(), false))
    } else {
        Err(format!("`{text}` is not auto or an api-version like 7.1"))
    }
}

/// Classic release management (`vsrm`) and identities (`vssps`) have their own hosts in the
/// cloud; a Server collection serves them at the collection URL.
pub(super) fn cloud_host(base: &Url, service: &str) -> Url {
    let host = base.host_str().unwrap_or_default();
    let rewritten = if host.eq_ignore_ascii_case("dev.azure.com") {
        Some(format!("https://{service}.dev.azure.com{}", base.path()))
    } else {
        host.strip_suffix(".visualstudio.com")
            .filter(|org| !org.contains('.'))
            .map(|org| format!("https://{org}.{service}.visualstudio.com{}", base.path()))
    };
    rewritten
        .and_then(|u| Url::parse(&u).ok())
        .unwrap_or_else(|| base.clone())
}
