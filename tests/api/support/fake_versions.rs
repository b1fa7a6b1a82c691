//! The api-version rules of the fake Azure DevOps, as the real service applies them to every
//! call: a call without `api-version` is refused (`VssVersionNotSpecifiedException`), and a
//! server older than the version asked for refuses it naming the newest it speaks
//! (`VssVersionOutOfRangeException`, the text Azure DevOps Server 2020 and 2022 answer with).

use std::collections::BTreeMap;

use serde_json::json;
use wiremock::ResponseTemplate;

/// `7.1-preview.1` → (7, 1).
pub fn numbers(version: &str) -> (u32, u32) {
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The refusal for a call the fake, speaking at most `server` (None: 7.1, the cloud), refuses.
pub fn refusal(
    method: &str,
    server: Option<&str>,
    query: &BTreeMap<String, String>,
) -> Option<ResponseTemplate> {
    let Some(asked) = query.get("api-version") else {
        return Some(ResponseTemplate::new(400).set_body_json(json!({
            "$id": "1", "innerException": null,
            "message": format!("No api-version was supplied for the \"{method}\" request. The version must be supplied either as part of the Accept header (e.g. \"application/json; api-version=1.0\") or as a query parameter (e.g. '?api-version=1.0')."),
            "typeName": "Microsoft.VisualStudio.Services.WebApi.VssVersionNotSpecifiedException, Microsoft.VisualStudio.Services.WebApi",
            "typeKey": "VssVersionNotSpecifiedException", "errorCode": 0, "eventId": 3000})));
    };
    let latest = server.unwrap_or("7.1");
    if numbers(asked) <= numbers(latest) {
        return None;
    }
    let asked = asked.split('-').next().unwrap_or_default();
    Some(ResponseTemplate::new(400).set_body_json(json!({
        "$id": "1", "innerException": null,
        "message": format!("The requested REST API version of {asked} is out of range for this server. The latest REST API version this server supports is {latest}."),
        "typeName": "Microsoft.VisualStudio.Services.WebApi.VssVersionOutOfRangeException, Microsoft.VisualStudio.Services.WebApi",
        "typeKey": "VssVersionOutOfRangeException", "errorCode": 0, "eventId": 3000})))
}
