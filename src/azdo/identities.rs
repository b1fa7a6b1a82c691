//! Who Azure DevOps lists as a stage's approvers, as people: a user is a person, a group is its
//! members, read through the identities API (`{identity base}/_apis/identities`, on
//! `vssps.dev.azure.com` in the cloud, the collection on a Server) with direct membership, down
//! through nested groups. Bounded, so a huge or cyclic group cannot keep the bot reading.
//!
//! The published examples of this API only show `queryMembership=None`; that `Direct` lists a
//! group's `memberIds` is what the field's documentation says (tested against a fake that
//! assumes it). If Azure DevOps lists none, nobody of that group is recognised, so nobody of it
//! can approve in Slack: the safe side.

use std::collections::{HashSet, VecDeque};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tracing::instrument;

use super::client::{AzdoClient, List};
use super::*;

/// Identities read per request.
const PER_REQUEST: usize = 50;
/// The most identities read to resolve one stage's approvers.
const MOST_IDENTITIES: usize = 500;

/// Someone Azure DevOps lists as an approver, as its release approvals name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverRef {
    pub id: String,
    pub name: String,
    /// The sign-in name when it is an email address.
    pub email: Option<String>,
    pub is_group: bool,
}

/// A person who may approve, with the email Slack can recognise them by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub email: String,
    pub name: String,
}

#[async_trait]
pub trait Identities: Send + Sync {
    /// The people behind `approvers`: users as they are, groups by their members (nested groups
    /// too). People without an email are left out; so is anything past the bound.
    async fn people(&self, approvers: &[ApproverRef]) -> Result<Vec<Person>, AzdoError>;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityDto {
    #[serde(default)]
    provider_display_name: String,
    #[serde(default)]
    custom_display_name: Option<String>,
    #[serde(default)]
    is_container: bool,
    #[serde(default)]
    member_ids: Vec<String>,
    #[serde(default)]
    properties: Value,
}

impl IdentityDto {
    /// `properties.Mail`, else `properties.Account` when it is an address.
    fn email(&self) -> Option<String> {
        let property = |name: &str| {
            self.properties[name]["$value"]
                .as_str()
                .filter(|v| v.contains('@'))
                .map(str::to_owned)
        };
        property("Mail").or_else(|| property("Account"))
    }

    fn name(&self) -> String {
        self.custom_display_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.provider_display_name.clone())
    }
}

impl AzdoClient {
    /// `GET {identity base}/_apis/identities?identityIds=…&queryMembership=Direct`.
    async fn identities(&self, ids: &[String]) -> Result<Vec<IdentityDto>, AzdoError> {
        let joined = ids.join(",");
        let query = [
            ("identityIds", joined.as_str()),
            ("queryMembership", "Direct"),
        ];
        let url = self.identity_url(&["identities"], &query);
        let list: List<IdentityDto> = self.get(url).await?;
        Ok(list.value)
    }
}

#[async_trait]
impl Identities for AzdoClient {
    #[instrument(level = "debug", skip_all, fields(approvers = approvers.len()))]
    async fn people(&self, approvers: &[ApproverRef]) -> Result<Vec<Person>, AzdoError> {
        let mut people: Vec<Person> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        // Groups, then their members: read to learn which are people.
        let mut unread: VecDeque<String> = VecDeque::new();
        for approver in approvers {
            if approver.is_group {
                if seen.insert(approver.id.clone()) {
                    unread.push_back(approver.id.clone());
                }
            } else if let Some(email) = &approver.email {
                add(&mut people, email, &approver.name);
            }
        }
        while !unread.is_empty() && seen.len() < MOST_IDENTITIES {
            let batch: Vec<String> = unread.drain(..unread.len().min(PER_REQUEST)).collect();
            for identity in self.identities(&batch).await? {
                if identity.is_container {
                    for member in &identity.member_ids {
                        if seen.len() < MOST_IDENTITIES && seen.insert(member.clone()) {
                            unread.push_back(member.clone());
                        }
                    }
                } else if let Some(email) = identity.email() {
                    add(&mut people, &email, &identity.name());
                }
            }
        }
        Ok(people)
    }
}

/// Adds a person once, by email ignoring case.
fn add(people: &mut Vec<Person>, email: &str, name: &str) {
    if !people.iter().any(|p| p.email.eq_ignore_ascii_case(email)) {
        people.push(Person {
            email: email.to_owned(),
            name: if name.is_empty() { email } else { name }.to_owned(),
        });
    }
}
