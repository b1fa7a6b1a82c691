//! Jira's JSON, as the client reads it.

use serde::Deserialize;

use super::transitions::{Category, Offered};

#[derive(Deserialize)]
pub(super) struct NamedDto {
    #[serde(default)]
    pub(super) name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FieldsDto {
    #[serde(default)]
    pub(super) summary: String,
    pub(super) status: Option<NamedDto>,
    pub(super) issuetype: Option<NamedDto>,
}

#[derive(Deserialize)]
pub(super) struct IssueDto {
    pub(super) key: String,
    pub(super) fields: Option<FieldsDto>,
}

#[derive(Deserialize)]
pub(super) struct TransitionDto {
    pub(super) id: String,
    #[serde(default)]
    pub(super) name: String,
    pub(super) to: Option<StatusDto>,
    /// With `expand=transitions.fields`: the fields of its screen.
    #[serde(default)]
    pub(super) fields: std::collections::HashMap<String, ScreenFieldDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatusDto {
    #[serde(default)]
    pub(super) name: String,
    pub(super) status_category: Option<CategoryDto>,
}

#[derive(Deserialize)]
pub(super) struct CategoryDto {
    pub(super) key: Category,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScreenFieldDto {
    #[serde(default)]
    pub(super) required: bool,
    #[serde(default)]
    pub(super) allowed_values: Vec<NamedDto>,
}

impl TransitionDto {
    pub(super) fn offered(self) -> Offered {
        let resolution = self
            .fields
            .get("resolution")
            .filter(|f| f.required)
            .map(|f| f.allowed_values.iter().map(|v| v.name.clone()).collect());
        let (to, category) = match self.to {
            Some(to) => (
                to.name,
                to.status_category.map_or(Category::Undefined, |c| c.key),
            ),
            None => (String::new(), Category::Undefined),
        };
        Offered {
            id: self.id,
            name: self.name,
            to,
            category,
            resolution,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ChangelogDto {
    #[serde(default)]
    pub(super) values: Vec<ChangeDto>,
}

#[derive(Deserialize)]
pub(super) struct ChangeDto {
    #[serde(default)]
    pub(super) items: Vec<ChangeItemDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ChangeItemDto {
    #[serde(default)]
    pub(super) field: String,
    pub(super) from_string: Option<String>,
    pub(super) to_string: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct TransitionsDto {
    #[serde(default)]
    pub(super) transitions: Vec<TransitionDto>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SearchDto {
    #[serde(default)]
    pub(super) issues: Vec<IssueDto>,
    pub(super) next_page_token: Option<String>,
    #[serde(default)]
    pub(super) is_last: bool,
}

#[derive(Deserialize)]
pub(super) struct CreatedDto {
    pub(super) key: String,
}

#[derive(Deserialize)]
pub(super) struct CommentDto {
    pub(super) id: String,
}
