//! A fake Slack on 127.0.0.1 that speaks the real protocols: the Web API over HTTP (wiremock) and
//! Socket Mode over a real WebSocket server. Tests drive it like Slack would: deliver envelopes,
//! read the acks, and look at the Web API calls the bot made.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message as Frame;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const BOT_TOKEN: &str = "xoxb-test-bot-token-5f1c9a";
pub const APP_TOKEN: &str = "xapp-test-app-token-77be20";

/// One Web API call the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub token: String,
    pub body: Value,
    pub at: Instant,
    /// The `ts` of the message a successful chat.postMessage or chat.update wrote.
    pub ts: Option<String>,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    /// Answers queued per method, used before the default answer.
    scripted: HashMap<String, Vec<ResponseTemplate>>,
    groups: HashMap<String, Vec<String>>,
    /// Members' emails, for users.lookupByEmail.
    emails: HashMap<String, String>,
    auth_error: Option<String>,
    /// The `host:port` apps.connections.open names in place of the WebSocket's loopback one.
    ws_host: Option<String>,
    /// Where envelopes' response_urls point (the Web API's origin unless announced otherwise).
    hooks_base: String,
    /// Each response_url handed out: the path, whom and where it answers, and its uses.
    hooks: HashMap<String, Hook>,
    /// The app was installed without the history scopes.
    no_history_scopes: bool,
    /// The n-th post (from 1) takes and then answers only after a minute: the bot can be
    /// killed between a post and its record.
    stall_post: Option<usize>,
    /// Whether the stalled post has arrived.
    stalled: bool,
}

/// A response_url: the user and channel of its command or click.
#[derive(Clone)]
struct Hook {
    user: String,
    channel: String,
    uses: u32,
}

/// A note one user saw: an ephemeral message, by whichever way it came.
#[derive(Debug, Clone)]
pub struct Note {
    pub user: String,
    pub channel: String,
    pub body: Value,
    /// `response_url` or `chat.postEphemeral`.
    pub via: &'static str,
}

/// Posts to response_urls. Slack takes 5 per URL within 30 minutes; the answer to a sixth
/// (`404 used_url`) is an approximation, as is the `200 ok` text body.
struct Hooks {
    state: Arc<Mutex<State>>,
}

impl Respond for Hooks {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        let body = body_of(request);
        let mut state = self.state.lock().unwrap();
        let Some(hook) = state.hooks.get_mut(&path) else {
            return ResponseTemplate::new(404).set_body_string("invalid_url");
        };
        hook.uses += 1;
        if hook.uses > 5 {
            return ResponseTemplate::new(404).set_body_string("used_url");
        }
        state.calls.push(Call {
            method: format!("response_url {path}"),
            token: String::new(),
            body,
            at: Instant::now(),
            ts: None,
        });
        ResponseTemplate::new(200).set_body_string("ok")
    }
}

struct Connection {
    id: u64,
    frames: mpsc::UnboundedSender<Out>,
}

/// What the fake does on a connection.
enum Out {
    Frame(Frame),
    /// Drops the TCP connection without a close handshake, as Slack sometimes does.
    Drop,
}

#[derive(Default)]
struct Socket {
    live: Mutex<Vec<Connection>>,
    /// Acks not yet taken by a test, as sent, by envelope id (an envelope delivered twice is
    /// acked twice). Read when taken, so a burst of acks costs the fake little.
    acks: Mutex<HashMap<String, std::collections::VecDeque<String>>>,
    /// When each ack arrived, by envelope id.
    acked_at: Mutex<HashMap<String, Instant>>,
    changed: Notify,
    opened: AtomicU64,
    /// When each connection opened, in order.
    opened_at: Mutex<Vec<Instant>>,
}

pub struct FakeSlack {
    web: MockServer,
    ws_addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    socket: Arc<Socket>,
    next_envelope: AtomicU64,
}

struct WebApi {
    state: Arc<Mutex<State>>,
    ws_url: String,
    /// The last message's ts, in microseconds since the epoch: a new one is the clock's or one
    /// more, so ts are real times and grow, as Slack's do.
    ts: Arc<AtomicU64>,
}

impl WebApi {
    fn next_ts(&self) -> String {
        let now = u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_micros(),
        )
        .unwrap();
        let micros = self
            .ts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .map_or(now, |last| now.max(last + 1));
        format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }
}

impl Respond for WebApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let method = request.url.path().trim_start_matches("/api/").to_owned();
        let token = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim_start_matches("Bearer ")
            .to_owned();
        let body = body_of(request);
        let mut state = self.state.lock().unwrap();
        let posted_before = state
            .calls
            .iter()
            .filter(|c| c.method == "chat.postMessage" && c.ts.is_some())
            .count();
        state.calls.push(Call {
            method: method.clone(),
            token,
            body: body.clone(),
            at: Instant::now(),
            ts: None,
        });
        if let Some(queue) = state.scripted.get_mut(&method)
            && !queue.is_empty()
        {
            return queue.remove(0);
        }
        let stall = method == "chat.postMessage" && state.stall_post == Some(posted_before + 1);
        let reply = match method.as_str() {
            "auth.test" | "apps.connections.open" if state.auth_error.is_some() => {
                json!({"ok": false, "error": state.auth_error.clone().unwrap()})
            }
            "auth.test" => {
                json!({"ok": true, "user_id": "U0BOT", "team_id": "T0TEAM", "team": "Test team",
                                   "url": "https://test.slack.com/", "bot_id": "B0BOT"})
            }
            "apps.connections.open" => {
                let url = match &state.ws_host {
                    Some(host) => format!("ws://{host}/link/?ticket=test-ticket"),
                    None => self.ws_url.clone(),
                };
                json!({"ok": true, "url": url})
            }
            "chat.postMessage" => {
                let ts = self.next_ts();
                if let Some(call) = state.calls.last_mut() {
                    call.ts = Some(ts.clone());
                }
                json!({"ok": true, "channel": body["channel"], "ts": ts, "message": {"ts": ts, "text": body["text"]}})
            }
            "chat.update" => {
                if let Some(call) = state.calls.last_mut() {
                    call.ts = body["ts"].as_str().map(str::to_owned);
                }
                json!({"ok": true, "channel": body["channel"], "ts": body["ts"], "message": {}})
            }
            "conversations.history" | "conversations.replies" if state.no_history_scopes => {
                json!({"ok": false, "error": "missing_scope",
                       "needed": "channels:history,groups:history",
                       "provided": "commands,chat:write,chat:write.public"})
            }
            "conversations.history" => super::fake_history::history(&state.calls, &body),
            "conversations.replies" => super::fake_history::replies(&state.calls, &body),
            // Slack cannot show a note in a conversation the bot is not in, a DM included. Which
            // error it names there is an approximation: `channel_not_found` is one of the
            // method's documented errors, not measured for a DM.
            "chat.postEphemeral"
                if body["channel"].as_str().is_some_and(|c| c.starts_with('D')) =>
            {
                json!({"ok": false, "error": "channel_not_found"})
            }
            "chat.postEphemeral" => json!({"ok": true, "message_ts": "1700000000.999999"}),
            "views.publish" => {
                let mut view = body["view"].clone();
                for (k, v) in [
                    ("id", "V0HOME"),
                    ("team_id", "T0TEAM"),
                    ("hash", "1700000000.abc"),
                ] {
                    view[k] = json!(v);
                }
                json!({"ok": true, "view": view})
            }
            "usergroups.users.list" => {
                let group = body["usergroup"].as_str().unwrap_or_default();
                match state.groups.get(group) {
                    Some(users) => json!({"ok": true, "users": users}),
                    None => json!({"ok": false, "error": "no_such_subteam"}),
                }
            }
            "users.lookupByEmail" => {
                let email = body["email"].as_str().unwrap_or_default().to_lowercase();
                match state.emails.get(&email) {
                    Some(user) => json!({"ok": true, "user": {"id": user, "team_id": "T0TEAM",
                        "name": user.to_lowercase(), "profile": {"email": email}}}),
                    None => json!({"ok": false, "error": "users_not_found"}),
                }
            }
            // users.info: the member with `profile.email` (scope users:read.email). Approximation:
            // every id is a member here; Slack answers `user_not_found` for an unknown one, which
            // the bot takes as "cannot check" and refuses the click.
            "users.info" => {
                let user = body["user"].as_str().unwrap_or_default();
                let email = state
                    .emails
                    .iter()
                    .find(|(_, id)| id.as_str() == user)
                    .map(|(email, _)| email.clone());
                json!({"ok": true, "user": {"id": user, "team_id": "T0TEAM",
                    "name": user.to_lowercase(), "profile": {"email": email}}})
            }
            _ => json!({"ok": false, "error": "unknown_method"}),
        };
        if stall {
            state.stalled = true;
            return ResponseTemplate::new(200)
                .set_body_json(reply)
                .set_delay(Duration::from_secs(60));
        }
        ResponseTemplate::new(200).set_body_json(reply)
    }
}

/// JSON bodies as sent; form bodies and query strings as a flat object.
fn body_of(request: &Request) -> Value {
    if let Ok(json) = serde_json::from_slice::<Value>(&request.body) {
        return json;
    }
    let pairs = url::form_urlencoded::parse(&request.body)
        .chain(request.url.query_pairs())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())));
    Value::Object(pairs.collect())
}

impl FakeSlack {
    pub async fn start() -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = Arc::new(Socket::default());
        tokio::spawn(accept_loop(listener, socket.clone()));

        let web = MockServer::start().await;
        let ts = Arc::new(AtomicU64::new(0));
        let state = Arc::new(Mutex::new(State {
            hooks_base: web.uri(),
            ..State::default()
        }));
        Mock::given(method("POST"))
            .and(path_prefix("/response/"))
            .respond_with(Hooks {
                state: state.clone(),
            })
            .mount(&web)
            .await;
        Mock::given(method("POST"))
            .and(path_prefix("/api/"))
            .respond_with(WebApi {
                state: state.clone(),
                ws_url: format!("ws://{addr}/link/?ticket=test-ticket"),
                ts: ts.clone(),
            })
            .mount(&web)
            .await;
        Mock::given(method("GET"))
            .and(path_prefix("/api/"))
            .respond_with(WebApi {
                state: state.clone(),
                ws_url: format!("ws://{addr}/link/?ticket=test-ticket"),
                ts,
            })
            .mount(&web)
            .await;
        Arc::new(Self {
            web,
            ws_addr: addr,
            state,
            socket,
            next_envelope: AtomicU64::new(1),
        })
    }

    /// Where the Web API and the WebSocket listen.
    pub fn addrs(&self) -> (std::net::SocketAddr, std::net::SocketAddr) {
        (*self.web.address(), self.ws_addr)
    }

    /// Makes apps.connections.open name `host` (`name:port`) for the WebSocket, and envelopes'
    /// response_urls start with `hooks_base` (`http://name`).
    pub fn announce_as(&self, host: &str, hooks_base: &str) {
        let mut state = self.state.lock().unwrap();
        state.ws_host = Some(host.to_owned());
        state.hooks_base = hooks_base.to_owned();
    }

    /// A new response_url for `user` in `channel`.
    fn hook(&self, kind: &str, id: &str, user: &str, channel: &str) -> String {
        let mut state = self.state.lock().unwrap();
        let path = format!("/response/{kind}/T0TEAM/{id}");
        let hook = Hook {
            user: user.to_owned(),
            channel: channel.to_owned(),
            uses: 0,
        };
        state.hooks.insert(path.clone(), hook);
        format!("{}{path}", state.hooks_base)
    }

    /// Every ephemeral note, oldest first, whether it came through a response_url or
    /// chat.postEphemeral (refused ones left out).
    pub fn notes(&self) -> Vec<Note> {
        let state = self.state.lock().unwrap();
        state
            .calls
            .iter()
            .filter_map(|c| {
                if c.method == "chat.postEphemeral" {
                    let channel = c.body["channel"].as_str().unwrap_or_default().to_owned();
                    return (!channel.starts_with('D')).then(|| Note {
                        user: c.body["user"].as_str().unwrap_or_default().to_owned(),
                        channel,
                        body: c.body.clone(),
                        via: "chat.postEphemeral",
                    });
                }
                let path = c.method.strip_prefix("response_url ")?;
                let hook = state.hooks.get(path)?;
                Some(Note {
                    user: hook.user.clone(),
                    channel: hook.channel.clone(),
                    body: c.body.clone(),
                    via: "response_url",
                })
            })
            .collect()
    }

    /// The value for SLACK_API_URL.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.web.uri())
    }

    pub fn set_group(&self, group: &str, users: &[&str]) {
        let users = users.iter().map(|u| (*u).to_owned()).collect();
        self.state
            .lock()
            .unwrap()
            .groups
            .insert(group.to_owned(), users);
    }

    /// Gives `user` the email `email`, for users.lookupByEmail.
    pub fn set_email(&self, user: &str, email: &str) {
        let mut state = self.state.lock().unwrap();
        state.emails.insert(email.to_lowercase(), user.to_owned());
    }

    /// Makes auth.test and apps.connections.open answer `error` (e.g. `invalid_auth`).
    pub fn refuse_tokens(&self, error: &str) {
        self.state.lock().unwrap().auth_error = Some(error.to_owned());
    }

    /// Queues `reply` as the next answer to `method`, ahead of the normal one.
    pub fn script(&self, method: &str, reply: ResponseTemplate) {
        self.state
            .lock()
            .unwrap()
            .scripted
            .entry(method.to_owned())
            .or_default()
            .push(reply);
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// The last version of the card (root message) whose ts is `ts`, as sent.
    pub fn card(&self, ts: &str) -> Option<Value> {
        let state = self.state.lock().unwrap();
        state
            .calls
            .iter()
            .filter(|c| {
                (c.method == "chat.update" && c.body["ts"] == ts)
                    || (c.method == "chat.postMessage" && c.ts.as_deref() == Some(ts))
            })
            .max_by_key(|c| c.at)
            .map(|c| c.body.clone())
    }

    /// The messages of `channel` as a person sees them, oldest first: each root message with its
    /// replies, as they stand after every update.
    pub fn channel(&self, channel: &str) -> Vec<(Value, Vec<Value>)> {
        let messages = super::fake_history::messages(&self.state.lock().unwrap().calls, channel);
        let (roots, replies): (Vec<Value>, Vec<Value>) =
            messages.into_iter().partition(|m| m["thread_ts"].is_null());
        roots
            .into_iter()
            .map(|root| {
                let thread = replies
                    .iter()
                    .filter(|r| r["thread_ts"] == root["ts"])
                    .cloned()
                    .collect();
                (root, thread)
            })
            .collect()
    }

    /// Answers conversations.history and conversations.replies with `missing_scope`, as for
    /// an app installed before it asked for the history scopes.
    pub fn without_history_scopes(&self) {
        self.state.lock().unwrap().no_history_scopes = true;
    }

    /// Makes the `n`-th post from now (1 = the next) take, then answer only after a minute.
    pub fn stall_post(&self, n: usize) {
        let mut state = self.state.lock().unwrap();
        let posted = state
            .calls
            .iter()
            .filter(|c| c.method == "chat.postMessage" && c.ts.is_some())
            .count();
        state.stall_post = Some(posted + n);
        state.stalled = false;
    }

    /// Whether the stalled post has been made (and its answer is being held).
    pub fn stalled(&self) -> bool {
        self.state.lock().unwrap().stalled
    }

    pub fn all_calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// How many Socket Mode connections were ever opened.
    pub fn connections_opened(&self) -> u64 {
        self.socket.opened.load(Ordering::SeqCst)
    }

    /// Waits until a connection opened after `opened` (a [`connections_opened`] count) is live, so
    /// envelopes go to a process started since.
    ///
    /// [`connections_opened`]: Self::connections_opened
    pub async fn connected_since(&self, opened: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let changed = self.socket.changed.notified();
            if self
                .socket
                .live
                .lock()
                .unwrap()
                .iter()
                .any(|c| c.id > opened)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the new process never opened a Socket Mode connection"
            );
            let _ = tokio::time::timeout(Duration::from_millis(100), changed).await;
        }
    }

    /// Waits until a Socket Mode connection is live.
    pub async fn connected(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let changed = self.socket.changed.notified();
            if !self.socket.live.lock().unwrap().is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the bot never opened a Socket Mode connection"
            );
            let _ = tokio::time::timeout(Duration::from_millis(100), changed).await;
        }
    }

    /// Delivers `envelope` on the newest live connection and returns its envelope id.
    pub async fn deliver(&self, envelope: Value) -> String {
        self.connected().await;
        let newest = self.socket.live.lock().unwrap().len() - 1;
        self.deliver_on(newest, envelope)
    }

    /// How many Socket Mode connections are live now.
    pub fn live_connections(&self) -> usize {
        self.socket.live.lock().unwrap().len()
    }

    /// Delivers `envelope` on live connection `index` (oldest first) and returns its envelope id,
    /// as Slack spreads envelopes over an app's connections.
    pub fn deliver_on(&self, index: usize, envelope: Value) -> String {
        let id = envelope["envelope_id"].as_str().unwrap().to_owned();
        self.deliver_text_on(index, envelope.to_string());
        id
    }

    /// Delivers an envelope already written as JSON on live connection `index`.
    pub fn deliver_text_on(&self, index: usize, envelope: String) {
        let live = self.socket.live.lock().unwrap();
        live[index % live.len()]
            .frames
            .send(Out::Frame(Frame::text(envelope)))
            .unwrap();
    }

    /// Sends a `disconnect` frame with `reason` on live connection `index`, and closes that
    /// connection `after` later (Slack gives about 10 s after a `warning`).
    pub fn disconnect(&self, index: usize, reason: &str, after: Duration) {
        let frame =
            json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}});
        let frames = self.connection(index);
        let _ = frames.send(Out::Frame(Frame::text(frame.to_string())));
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = frames.send(Out::Frame(Frame::Close(None)));
        });
    }

    /// Drops live connection `index` without a close handshake.
    pub fn drop_connection(&self, index: usize) {
        let _ = self.connection(index).send(Out::Drop);
    }

    fn connection(&self, index: usize) -> mpsc::UnboundedSender<Out> {
        let live = self.socket.live.lock().unwrap();
        live[index % live.len()].frames.clone()
    }

    /// When each connection opened, in order.
    pub fn opened_at(&self) -> Vec<Instant> {
        self.socket.opened_at.lock().unwrap().clone()
    }

    /// Waits until `count` connections are live.
    pub async fn live(&self, count: usize) {
        self.live_until(|live| live >= count).await;
    }

    /// Waits until exactly `count` connections are live (rotated ones have closed).
    pub async fn live_exactly(&self, count: usize) {
        self.live_until(|live| live == count).await;
    }

    async fn live_until(&self, enough: impl Fn(usize) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !enough(self.live_connections()) {
            assert!(
                Instant::now() < deadline,
                "the live connections never settled ({} live)",
                self.live_connections()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the ack of `envelope_id`.
    pub async fn ack(&self, envelope_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let changed = self.socket.changed.notified();
            if let Some(ack) = self
                .socket
                .acks
                .lock()
                .unwrap()
                .get_mut(envelope_id)
                .and_then(std::collections::VecDeque::pop_front)
            {
                return serde_json::from_str(&ack).expect("an ack is JSON");
            }
            assert!(
                Instant::now() < deadline,
                "no ack for envelope {envelope_id}"
            );
            let _ = tokio::time::timeout(Duration::from_millis(100), changed).await;
        }
    }

    /// When the ack of `envelope_id` arrived, if it did.
    pub fn acked_at(&self, envelope_id: &str) -> Option<Instant> {
        self.socket
            .acked_at
            .lock()
            .unwrap()
            .get(envelope_id)
            .copied()
    }

    /// Delivers a prepared envelope again, as Slack does after a missed ack.
    pub async fn redeliver(&self, envelope: &Value) {
        self.deliver(envelope.clone()).await;
    }

    pub fn envelope_id(&self) -> String {
        format!("env-{}", self.next_envelope.fetch_add(1, Ordering::SeqCst))
    }

    /// A slash-command envelope as Slack sends it.
    pub fn slash_envelope(&self, command: &str, text: &str, user: &str) -> Value {
        self.slash_envelope_in("C0RELEASES", command, text, user)
    }

    /// A slash command typed in `channel` (a `D…` id is a DM).
    pub fn slash_envelope_in(&self, channel: &str, command: &str, text: &str, user: &str) -> Value {
        let id = self.envelope_id();
        let response_url = self.hook("commands", &id, user, channel);
        json!({
            "envelope_id": id,
            "type": "slash_commands",
            "accepts_response_payload": true,
            "payload": {
                "token": "legacy", "team_id": "T0TEAM", "team_domain": "test", "channel_id": channel,
                "channel_name": "releases", "user_id": user, "user_name": "someone", "command": command,
                "text": text, "api_app_id": "A0APP", "is_enterprise_install": "false",
                "response_url": response_url,
                "trigger_id": format!("trigger-{id}")
            }
        })
    }

    /// A `block_actions` envelope for a click on a button with `action_id` and `value`.
    pub fn click_envelope(
        &self,
        action_id: &str,
        value: &str,
        user: &str,
        message_ts: &str,
    ) -> Value {
        let id = self.envelope_id();
        let response_url = self.hook("actions", &id, user, "C0RELEASES");
        json!({
            "envelope_id": id,
            "type": "interactive",
            "accepts_response_payload": false,
            "payload": {
                "type": "block_actions",
                "user": {"id": user, "username": "someone", "name": "someone", "team_id": "T0TEAM"},
                "api_app_id": "A0APP",
                "token": "legacy",
                "container": {"type": "message", "message_ts": message_ts, "channel_id": "C0RELEASES", "is_ephemeral": false},
                "trigger_id": format!("trigger-{id}"),
                "team": {"id": "T0TEAM", "domain": "test"},
                "channel": {"id": "C0RELEASES", "name": "releases"},
                "response_url": response_url,
                "actions": [{
                    "type": "button", "action_id": action_id, "block_id": "approval",
                    "text": {"type": "plain_text", "text": "x"}, "value": value, "action_ts": "1700000001.000100"
                }]
            }
        })
    }

    /// An `events_api` envelope: `user` opened the bot's Home tab.
    pub fn home_opened_envelope(&self, user: &str) -> Value {
        let event = json!({"type": "app_home_opened", "user": user, "channel": "D0HOME",
                           "tab": "home", "event_ts": "1700000002.000100"});
        self.events_api(event, 1_700_000_002)
    }

    /// `event` in an `events_api` envelope of its own, as Socket Mode delivers it.
    fn events_api(&self, event: Value, time: i64) -> Value {
        let id = self.envelope_id();
        json!({
            "envelope_id": id,
            "type": "events_api",
            "accepts_response_payload": false,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "token": "legacy", "team_id": "T0TEAM", "api_app_id": "A0APP",
                "event": event,
                "type": "event_callback", "event_id": format!("Ev{id}"), "event_time": time,
                "authorizations": [{"team_id": "T0TEAM", "user_id": "U0BOT", "is_bot": true}]
            }
        })
    }

    /// An `events_api` envelope: `user` wrote `text` (which mentions the bot) in `channel`, as a
    /// reply in the thread of `thread_ts` when given. The fields are those of Slack's
    /// `app_mention` example, with `thread_ts` as a reply carries it.
    pub fn mention_envelope(
        &self,
        user: &str,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Value {
        let mut event = json!({
            "type": "app_mention", "user": user, "text": text, "ts": "1700000003.000200",
            "channel": channel, "event_ts": "1700000003.000200"
        });
        if let Some(ts) = thread_ts {
            event["thread_ts"] = json!(ts);
        }
        self.events_api(event, 1_700_000_003)
    }

    /// Delivers a slash command typed in `channel` and returns the ack.
    pub async fn slash_in(&self, channel: &str, command: &str, text: &str, user: &str) -> Value {
        let id = self
            .deliver(self.slash_envelope_in(channel, command, text, user))
            .await;
        self.ack(&id).await
    }

    /// Delivers a slash command and returns the ack.
    pub async fn slash(&self, command: &str, text: &str, user: &str) -> Value {
        let id = self.deliver(self.slash_envelope(command, text, user)).await;
        self.ack(&id).await
    }
}

async fn accept_loop(listener: TcpListener, socket: Arc<Socket>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            serve_connection(ws, socket).await;
        });
    }
}

async fn serve_connection(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    socket: Arc<Socket>,
) {
    let (mut sink, mut stream) = ws.split();
    let id = socket.opened.fetch_add(1, Ordering::SeqCst) + 1;
    socket.opened_at.lock().unwrap().push(Instant::now());
    let live_count = socket.live.lock().unwrap().len() as u64 + 1;
    let hello = json!({"type": "hello", "num_connections": live_count,
        "debug_info": {"host": "fake-slack", "build_number": 1, "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A0APP"}});
    if sink.send(Frame::text(hello.to_string())).await.is_err() {
        return;
    }
    let (frames, mut outgoing) = mpsc::unbounded_channel::<Out>();
    socket.live.lock().unwrap().push(Connection { id, frames });
    socket.changed.notify_waiters();
    let mut queued = Vec::new();
    loop {
        tokio::select! {
            // Frames queued together are written together, as a server under load does.
            _ = outgoing.recv_many(&mut queued, 256) => {
                let mut stop = queued.is_empty();
                for out in queued.drain(..) {
                    match out {
                        Out::Frame(frame) if !stop => {
                            let closing = matches!(frame, Frame::Close(_));
                            stop = sink.feed(frame).await.is_err() || closing;
                        }
                        _ => stop = true,
                    }
                }
                if sink.flush().await.is_err() || stop { break }
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Frame::Text(text))) => {
                    #[derive(serde::Deserialize)]
                    struct Ack<'a> {
                        envelope_id: &'a str,
                    }
                    if let Ok(Ack { envelope_id }) = serde_json::from_str(&text) {
                        let at = Instant::now();
                        socket.acks.lock().unwrap().entry(envelope_id.to_owned()).or_default().push_back(text.as_str().to_owned());
                        socket.acked_at.lock().unwrap().insert(envelope_id.to_owned(), at);
                        socket.changed.notify_waiters();
                    }
                }
                Some(Ok(Frame::Ping(data))) => { let _ = sink.send(Frame::Pong(data)).await; }
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    socket.live.lock().unwrap().retain(|c| c.id != id);
    socket.changed.notify_waiters();
}

fn path_prefix(prefix: &'static str) -> impl wiremock::Match {
    PathPrefix(prefix)
}

struct PathPrefix(&'static str);

impl wiremock::Match for PathPrefix {
    fn matches(&self, request: &Request) -> bool {
        request.url.path().starts_with(self.0)
    }
}
