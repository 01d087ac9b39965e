//! chat-webchat: a small web chat on redis-chat.
//!
//! Serves one page (HTML, CSS and JavaScript built into the binary) and a
//! WebSocket, and talks to Redis only through the module's CHAT.* commands
//! (by way of the redis-chat client library), plus SUBSCRIBE or SSUBSCRIBE
//! on the channels the module names, the presence channels of the people
//! its users see among them. It runs on one Redis server or on a
//! Redis Cluster.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6390/ PORT=8080 cargo run --release -p chat-webchat
//! REDIS_CLUSTER=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 cargo run --release -p chat-webchat
//! ```

mod chat;
mod hub;
mod moderation;
mod presence;
mod pubsub;
mod requests;
mod sessions;
mod socket;
mod talk;
mod views;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use chat::Chat;
use hub::Hubs;
use presence::Presence;
use redis_chat_client::Target;
use sessions::Sessions;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const TALK_JS: &str = include_str!("../static/talk.js");
const MODERATION_JS: &str = include_str!("../static/moderation.js");
const ACCOUNT_JS: &str = include_str!("../static/account.js");
const PEOPLE_JS: &str = include_str!("../static/people.js");
const RENDER_JS: &str = include_str!("../static/render.js");
const STYLE_CSS: &str = include_str!("../static/style.css");

pub struct App {
    pub chat: Chat,
    pub hubs: Arc<Hubs>,
    pub sessions: Sessions,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("webchat: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let target = target()?;
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got '{p}'"))?,
        Err(_) => 8080,
    };
    let place = match &target {
        Target::Standalone(url) => format!("Redis at {url}"),
        Target::Cluster(nodes) => format!("Redis Cluster at {}", nodes.join(",")),
    };
    let chat = Chat::connect(&target)
        .await
        .map_err(|e| format!("cannot connect to {place}: {e}"))?;
    chat.probe().await.map_err(|e| {
        format!("{place} does not answer CHAT.* commands ({e}); load the redis-chat module")
    })?;

    let presence = Presence::start(chat.clone(), &target)?;
    let app = Arc::new(App {
        hubs: Hubs::new(chat.clone(), presence),
        chat,
        sessions: Sessions::default(),
    });
    let router = Router::new()
        .route("/", get(index))
        .route(
            "/app.js",
            get(|| asset("text/javascript; charset=utf-8", APP_JS)),
        )
        .route(
            "/talk.js",
            get(|| asset("text/javascript; charset=utf-8", TALK_JS)),
        )
        .route(
            "/moderation.js",
            get(|| asset("text/javascript; charset=utf-8", MODERATION_JS)),
        )
        .route(
            "/people.js",
            get(|| asset("text/javascript; charset=utf-8", PEOPLE_JS)),
        )
        .route(
            "/account.js",
            get(|| asset("text/javascript; charset=utf-8", ACCOUNT_JS)),
        )
        .route(
            "/render.js",
            get(|| asset("text/javascript; charset=utf-8", RENDER_JS)),
        )
        .route(
            "/style.css",
            get(|| asset("text/css; charset=utf-8", STYLE_CSS)),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/signup", post(signup))
        .route("/api/signin", post(signin))
        .route("/api/signout", post(signout))
        .route("/ws", get(websocket))
        .with_state(app.clone());

    // Loopback only: this is a demo, with no TLS.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("webchat: http://{addr}/ ({place})");

    let serve = axum::serve(listener, router);
    tokio::select! {
        result = serve => result.map_err(|e| format!("the web server stopped: {e}"))?,
        () = shutdown_signal() => {}
    }
    // Everyone still connected goes offline, so their messages wait in their
    // inboxes.
    app.hubs.close_all().await;
    println!("webchat: stopped");
    Ok(())
}

/// Where the chat lives: `REDIS_CLUSTER` (some of a cluster's nodes,
/// `host:port` or `redis://` URLs, separated by commas), else `REDIS_URL`
/// (one server; default redis://127.0.0.1:6390/).
fn target() -> Result<Target, String> {
    if let Ok(nodes) = std::env::var("REDIS_CLUSTER") {
        let nodes: Vec<String> = nodes
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        if nodes.is_empty() {
            return Err("REDIS_CLUSTER must name at least one node, as host:port".into());
        }
        return Ok(Target::Cluster(nodes));
    }
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390/".into());
    Ok(Target::Standalone(url))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The largest WebSocket message (and frame) a page may send.
const MAX_REQUEST: usize = 64 * 1024;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The request body, or a 400 response that says what to send.
fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes, fields: &str) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|_| format!("send a JSON object with {fields}"))
}

#[derive(Deserialize)]
struct SignUp {
    user: String,
    name: String,
    password: String,
}

#[derive(Deserialize)]
struct SignIn {
    user: String,
    password: String,
}

#[derive(Deserialize)]
struct SignOut {
    token: String,
}

fn check_password(password: &str) -> Result<(), String> {
    if password.is_empty() {
        return Err("choose a password".into());
    }
    if password.len() > 1024 {
        return Err("the password is longer than 1024 bytes".into());
    }
    Ok(())
}

fn signed_in(app: &App, user: &str) -> Response {
    match app.sessions.create(user) {
        Ok(token) => Json(json!({ "token": token, "user": user })).into_response(),
        Err(message) => refuse(StatusCode::INTERNAL_SERVER_ERROR, message),
    }
}

async fn signup(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let req: SignUp = match parse(&body, "user, name and password") {
        Ok(r) => r,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    if let Err(message) = check_password(&req.password) {
        return refuse(StatusCode::BAD_REQUEST, message);
    }
    let name = if req.name.trim().is_empty() {
        req.user.as_str()
    } else {
        req.name.trim()
    };
    match app.chat.register(&req.user, name, &req.password).await {
        Ok(()) => signed_in(&app, &req.user),
        Err(e) if e.is("user already exists") => {
            refuse(StatusCode::CONFLICT, "that user name is taken")
        }
        Err(e) if e.refused => refuse(StatusCode::BAD_REQUEST, e.message),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.message),
    }
}

async fn signin(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let req: SignIn = match parse(&body, "user and password") {
        Ok(r) => r,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    if let Err(message) = check_password(&req.password) {
        return refuse(StatusCode::BAD_REQUEST, message);
    }
    match app.chat.auth(&req.user, &req.password).await {
        Ok(true) => signed_in(&app, &req.user),
        Ok(false) => refuse(StatusCode::UNAUTHORIZED, "invalid username or password"),
        Err(e) if e.refused => refuse(StatusCode::BAD_REQUEST, e.message),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.message),
    }
}

async fn signout(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let req: SignOut = match parse(&body, "token") {
        Ok(r) => r,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    app.sessions.remove(&req.token);
    Json(json!({ "ok": true })).into_response()
}

async fn websocket(State(app): State<Arc<App>>, upgrade: WebSocketUpgrade) -> Response {
    // A request is a few hundred bytes, a message at most 16 KB of text (the
    // module's default chat.max-text-bytes): anything bigger is refused and
    // closes the socket.
    upgrade
        .max_message_size(MAX_REQUEST)
        .max_frame_size(MAX_REQUEST)
        .on_upgrade(move |socket| socket::serve(socket, app))
}
