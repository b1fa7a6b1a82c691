//! The Slack Web API calls the bot makes, on slack-morphism's client, each under a timeout, with
//! errors sorted into what the caller can act on: wait (rate limit), give up (Slack refused), or
//! try again (transport).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use slack_morphism::prelude::*;
use tracing::instrument;

pub use super::slack_error::SlackError;
use super::slack_error::cause_chain;
use super::workspace::Workspace;
use crate::proxy::{Proxies, ProxyConnector};
use hyper_rustls::HttpsConnector;

/// Who the bot token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: String,
    pub team: String,
    /// The workspace, and its Enterprise Grid organisation if any: envelopes from elsewhere are
    /// not the bot's to act on.
    pub workspace: Workspace,
    /// The workspace's URL, `https://{domain}.slack.com/`, the base of message links.
    pub url: String,
}

type Connector = SlackClientHyperConnector<HttpsConnector<ProxyConnector>>;

#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackClient<Connector>>,
    /// TCP to Slack, through the proxy if one is set: the Web API's and the WebSocket's.
    tcp: ProxyConnector,
    /// SLACK_API_URL's scheme, host and port.
    origin: url::Origin,
    bot: SlackApiToken,
    /// `None` when only Slack over HTTP is on.
    app: Option<SlackApiToken>,
    timeout: Duration,
}

impl SlackApi {
    /// A client for the Web API at `api_url` (no trailing slash), through `proxy` where it
    /// applies. Plain `http://` is allowed so that tests can point it at a local fake.
    pub fn new(
        api_url: &str,
        bot_token: &SecretString,
        app_token: Option<&SecretString>,
        proxy: &Proxies,
    ) -> std::io::Result<Self> {
        let tcp = ProxyConnector::new(proxy.clone());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            // hyper-rustls sets the ALPN list itself, from the HTTP versions enabled below.
            .with_tls_config(
                crate::tls::client_config()
                    .map_err(std::io::Error::other)?
                    .as_ref()
                    .clone(),
            )
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp.clone());
        let connector =
            SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url);
        let token = |secret: &SecretString| {
            SlackApiToken::new(SlackApiTokenValue(secret.expose_secret().to_owned()))
        };
        Ok(Self {
            client: Arc::new(SlackClient::new(connector)),
            tcp,
            origin: url::Url::parse(api_url)
                .map_err(std::io::Error::other)?
                .origin(),
            bot: token(bot_token),
            app: app_token.map(token),
            timeout: Duration::from_secs(15),
        })
    }

    /// A TCP connection to `url`'s host (a Socket Mode WebSocket URL), through the proxy if
    /// one applies; the WebSocket's TLS and handshake go on top.
    pub async fn tcp_to(&self, url: &url::Url) -> Result<tokio::net::TcpStream, String> {
        self.tcp
            .stream(url)
            .await
            .map_err(|e| cause_chain(e.as_ref()))
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = ClientResult<T>>,
    ) -> Result<T, SlackError> {
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(SlackError::from),
            Err(_) => Err(SlackError::Transport(format!(
                "no answer within {}s",
                self.timeout.as_secs()
            ))),
        };
        crate::metrics::external_call(
            "Slack",
            result.as_ref().map_or_else(SlackError::outcome, |_| "ok"),
        );
        result
    }

    /// Calls the read method `method` with the bot token, reading the reply with our own type
    /// where slack-morphism's leaves out what we need.
    pub(super) async fn get<T: serde::de::DeserializeOwned + Send>(
        &self,
        method: &str,
        params: &[(&str, Option<String>)],
    ) -> Result<T, SlackError> {
        let session = self.client.open_session(&self.bot);
        let params: Vec<(&str, Option<&String>)> =
            params.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        self.bounded(session.http_session_api.http_get(method, &params, None))
            .await
    }

    /// https://api.slack.com/methods/auth.test
    #[instrument(level = "debug", skip_all)]
    pub async fn auth_test(&self) -> Result<BotIdentity, SlackError> {
        // Read by hand: slack-morphism's reply type leaves out `enterprise_id`.
        #[derive(serde::Deserialize)]
        struct Reply {
            user_id: String,
            team_id: String,
            team: String,
            enterprise_id: Option<String>,
            url: String,
        }
        let reply: Reply = self.get("auth.test", &[]).await?;
        Ok(BotIdentity {
            user_id: reply.user_id,
            team: reply.team,
            workspace: Workspace {
                team: reply.team_id,
                // An empty id names no organisation.
                enterprise: reply.enterprise_id.filter(|id| !id.is_empty()),
            },
            url: reply.url,
        })
    }

    /// https://api.slack.com/methods/apps.connections.open: a fresh WebSocket URL, good for one
    /// connection. Start-up calls it once to prove the app token works.
    #[instrument(level = "debug", skip_all)]
    pub async fn connections_open(&self) -> Result<String, SlackError> {
        let Some(app) = &self.app else {
            return Err(SlackError::Api {
                code: "not_authed".into(),
                detail: vec!["SLACK_APP_TOKEN is not set".into()],
            });
        };
        let session = self.client.open_session(app);
        self.bounded(session.apps_connections_open(&SlackApiAppsConnectionOpenRequest::new()))
            .await
            .map(|reply| reply.url.0.to_string())
    }

    /// https://api.slack.com/methods/chat.postMessage; returns the message's `ts`. A thread
    /// reply with `broadcast` also shows in the channel.
    #[instrument(level = "debug", skip_all, fields(channel))]
    pub async fn post_message(
        &self,
        channel: &str,
        content: SlackMessageContent,
        thread_ts: Option<&str>,
        broadcast: bool,
    ) -> Result<String, SlackError> {
        let request = SlackApiChatPostMessageRequest::new(channel.into(), content)
            .opt_thread_ts(thread_ts.map(|ts| SlackTs(ts.to_owned())))
            .opt_reply_broadcast((broadcast && thread_ts.is_some()).then_some(true))
            .with_unfurl_links(false)
            .with_unfurl_media(false);
        let session = self.client.open_session(&self.bot);
        let reply = self.bounded(session.chat_post_message(&request)).await?;
        Ok(reply.ts.0)
    }

    /// https://api.slack.com/methods/chat.update
    #[instrument(level = "debug", skip_all, fields(channel, ts))]
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<(), SlackError> {
        let request =
            SlackApiChatUpdateRequest::new(channel.into(), content, SlackTs(ts.to_owned()));
        let session = self.client.open_session(&self.bot);
        self.bounded(session.chat_update(&request)).await.map(drop)
    }

    /// https://api.slack.com/methods/chat.postEphemeral
    #[instrument(level = "debug", skip_all, fields(channel, user))]
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        content: SlackMessageContent,
    ) -> Result<(), SlackError> {
        let request = SlackApiChatPostEphemeralRequest::new(channel.into(), user.into(), content);
        let session = self.client.open_session(&self.bot);
        self.bounded(session.chat_post_ephemeral(&request))
            .await
            .map(drop)
    }

    /// https://api.slack.com/interactivity/handling#message_responses: an ephemeral note through
    /// a command's or a click's `response_url`. The URL comes in a payload, so only Slack's own
    /// hosts (and SLACK_API_URL's, for GovSlack and tests) are posted to.
    #[instrument(level = "debug", skip_all)]
    pub async fn respond(
        &self,
        response_url: &str,
        content: SlackMessageContent,
    ) -> Result<(), SlackError> {
        #[derive(serde::Serialize)]
        struct Note {
            #[serde(flatten)]
            content: SlackMessageContent,
            response_type: &'static str,
            replace_original: bool,
        }
        let url = url::Url::parse(response_url)
            .ok()
            .filter(|url| self.is_slack(url))
            .ok_or_else(|| SlackError::Api {
                code: "response_url_not_slack".into(),
                detail: vec!["the response_url is not on a Slack host".into()],
            })?;
        let note = Note {
            content,
            response_type: "ephemeral",
            replace_original: false,
        };
        let span = tracing::debug_span!("Slack response_url");
        let context = SlackClientApiCallContext {
            rate_control_params: None,
            token: None,
            tracing_span: &span,
            is_sensitive_url: true,
        };
        let connector = &self.client.http_api.connector;
        self.bounded(
            connector.http_post_uri::<_, SlackApiPostWebhookMessageResponse>(url, &note, context),
        )
        .await
        .map(drop)
    }

    /// Slack's hooks hosts, or the Web API's own origin.
    fn is_slack(&self, url: &url::Url) -> bool {
        let hooks = url.scheme() == "https"
            && matches!(
                url.host_str(),
                Some("hooks.slack.com" | "hooks.slack-gov.com")
            );
        hooks || url.origin() == self.origin
    }

    /// https://api.slack.com/methods/views.publish: shows `view` as `user`'s App Home.
    #[instrument(level = "debug", skip_all, fields(user))]
    pub async fn publish_home(&self, user: &str, view: SlackView) -> Result<(), SlackError> {
        let request = SlackApiViewsPublishRequest::new(user.into(), view);
        let session = self.client.open_session(&self.bot);
        self.bounded(session.views_publish(&request))
            .await
            .map(drop)
    }

    /// https://api.slack.com/methods/usergroups.users.list
    #[instrument(level = "debug", skip_all, fields(group))]
    pub async fn group_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let request = SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId(group.to_owned()));
        let session = self.client.open_session(&self.bot);
        let reply = self
            .bounded(session.usergroups_users_list(&request))
            .await?;
        Ok(reply.users.into_iter().map(|u| u.0).collect())
    }

    /// https://api.slack.com/methods/users.info (scope `users:read.email` for the email): the
    /// email of `user`'s profile, `None` when Slack shows none (a bot, a hidden email).
    #[instrument(level = "debug", skip_all)]
    pub async fn user_email(&self, user: &str) -> Result<Option<String>, SlackError> {
        let request = SlackApiUsersInfoRequest::new(SlackUserId(user.to_owned()));
        let session = self.client.open_session(&self.bot);
        let reply = self.bounded(session.users_info(&request)).await?;
        Ok(reply
            .user
            .profile
            .and_then(|p| p.email)
            .map(|e| e.0)
            .filter(|e| !e.is_empty()))
    }

    /// https://api.slack.com/methods/users.lookupByEmail (scope `users:read.email`): the user
    /// id of the member with this email, `None` when no member has it.
    #[instrument(level = "debug", skip_all)]
    pub async fn user_by_email(&self, email: &str) -> Result<Option<String>, SlackError> {
        let request = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.to_owned()));
        let session = self.client.open_session(&self.bot);
        match self.bounded(session.users_lookup_by_email(&request)).await {
            Ok(reply) => Ok(Some(reply.user.id.0)),
            Err(SlackError::Api { code, .. }) if code == "users_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_go_only_to_slacks_own_hosts() {
        let secret = |s: &str| SecretString::from(s.to_owned());
        let api = SlackApi::new(
            "http://127.0.0.1:4000/api",
            &secret("xoxb-1"),
            Some(&secret("xapp-1")),
            &Proxies::default(),
        )
        .unwrap();
        let slack = |url: &str| api.is_slack(&url::Url::parse(url).unwrap());
        assert!(slack("https://hooks.slack.com/commands/T0/1/abc"));
        assert!(slack("https://hooks.slack-gov.com/actions/T0/1/abc"));
        assert!(slack("http://127.0.0.1:4000/response/commands/T0/1"));
        assert!(
            !slack("http://hooks.slack.com/commands/T0/1/abc"),
            "not in clear text"
        );
        assert!(!slack("https://hooks.slack.com.evil.example/x"));
        assert!(
            !slack("http://127.0.0.1:4001/x"),
            "another port is another service"
        );
        assert!(!slack("http://169.254.169.254/latest/meta-data/"));
    }
}
