//! What a click on a button and a mention of the bot become before the ack: intents saved for
//! the intake, each keyed by what carried it, so a redelivery counts once.

use slack_morphism::prelude::*;
use tracing::{info, warn};

use super::actions;
use super::front_door::{FrontDoor, Unsaved, slack_delivery};
use crate::workflow::intake::{Intent, Place};

impl FrontDoor {
    /// Persists every approval click in `event` as an intent, deduplicated by the click itself,
    /// so a redelivered envelope counts once.
    pub async fn interaction(&self, event: &SlackInteractionEvent) -> Result<(), Unsaved> {
        let SlackInteractionEvent::BlockActions(event) = event else {
            return Ok(());
        };
        let Some(user) = &event.user else {
            return Ok(());
        };
        let channel = event
            .channel
            .as_ref()
            .map(|c| c.id.to_string())
            .or_else(|| match &event.container {
                SlackInteractionActionContainer::Message(m) => {
                    m.channel_id.as_ref().map(ToString::to_string)
                }
                _ => None,
            })
            .unwrap_or_default();
        for action in event.actions.iter().flatten() {
            let Some((approval, option)) =
                actions::parse(&action.action_id.0, action.value.as_deref())
            else {
                continue;
            };
            let intent = Intent::Decide {
                approval,
                option,
                user: user.id.to_string(),
                user_name: user.username.clone().or_else(|| user.name.clone()),
                channel: channel.clone(),
                place: place(event),
                response_url: event.response_url.as_ref().map(|u| u.0.to_string()),
            };
            let key = format!("slack:action:{}:{}", event.trigger_id, action.action_id);
            if !self.record(slack_delivery(key.clone(), &intent)).await? {
                warn!(%key, "duplicate click delivery ignored");
            }
        }
        Ok(())
    }

    /// Saves a mention of the bot for the intake, keyed by its event id: a redelivered event
    /// counts once.
    pub async fn mention(
        &self,
        event_id: &str,
        mention: &SlackAppMentionEvent,
    ) -> Result<(), Unsaved> {
        let intent = Intent::Mention {
            user: mention.user.to_string(),
            channel: mention.channel.to_string(),
            thread_ts: mention.origin.thread_ts.as_ref().map(ToString::to_string),
            text: mention.content.text.clone().unwrap_or_default(),
        };
        let key = format!("slack:event:{event_id}");
        if !self.record(slack_delivery(key.clone(), &intent)).await? {
            info!(%key, "duplicate mention delivery ignored");
        }
        Ok(())
    }
}

/// Where the clicked button was: a message, or the clicker's Home tab.
fn place(event: &SlackInteractionBlockActionsEvent) -> Place {
    match (&event.container, &event.view) {
        (SlackInteractionActionContainer::Message(message), _) => Place::Message {
            ts: message.message_ts.to_string(),
        },
        (SlackInteractionActionContainer::View(_), Some(SlackView::Home(_))) => Place::Home,
        _ => Place::Unknown,
    }
}
