//! WHIP ingest (RFC 9725) into a room's stage — a hall camera from OBS or GStreamer — and
//! WHEP egress of the stage for viewers without the full client.
//!
//! Both are HTTP front ends to the same room actor the WebSocket protocol talks to: a session
//! joins with the bearer token's participant, hands its SDP offer to the media plane and gets
//! the answer back in the `201 Created`. A WHIP session (it needs the *moderate* grant)
//! publishes microphone and camera and becomes the moderator's stage pick; a WHEP session
//! only receives: its receive m-lines become a stage slot and audio slots. `DELETE` on the
//! session URL ends it. Trickle ICE is not supported (the server is ICE-lite and its only
//! candidate is in the answer): `PATCH` gets `405`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use rand::RngCore;
use tokio::sync::mpsc;

use crate::AppState;
use crate::offer::Front;
use crate::protocol::{Command, ErrorBody, ErrorCode, MediaKindArg};
use crate::room::{ConnId, Outbound, RoomHandle, RoomMsg};
use crate::ws::{ask, next_conn, verify_access};

/// Running WHIP/WHEP sessions by resource id.
#[derive(Debug, Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

#[derive(Debug)]
struct Session {
    room: RoomHandle,
    participant: String,
    conn: ConnId,
}

/// The routes under `/whip` and `/whep`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/whip/{room}", post(whip))
        .route("/whep/{room}", post(whep).options(preflight))
        .route("/whip/{room}/{resource}", delete(end).patch(no_trickle))
        .route(
            "/whep/{room}/{resource}",
            delete(end).patch(no_trickle).options(preflight),
        )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Whip,
    Whep,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Whip => "whip",
            Kind::Whep => "whep",
        }
    }
}

async fn whip(
    state: State<Arc<AppState>>,
    room: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    start(state, room, headers, body, Kind::Whip).await
}

async fn whep(
    state: State<Arc<AppState>>,
    room: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    start(state, room, headers, body, Kind::Whep).await
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, message.to_owned()).into_response()
}

fn error_response(e: &ErrorBody) -> Response {
    let status = match e.code {
        ErrorCode::InvalidToken | ErrorCode::TokenExpired => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden | ErrorCode::Banned => StatusCode::FORBIDDEN,
        ErrorCode::InvalidSdp | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MediaUnavailable | ErrorCode::RoomFull => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut resp = plain(status, &e.message);
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

async fn start(
    State(state): State<Arc<AppState>>,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    kind: Kind,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return error_response(&ErrorBody::new(
            ErrorCode::InvalidToken,
            "a bearer token is required",
        ));
    };
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/sdp"));
    if !is_sdp {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the offer must be application/sdp",
        );
    }
    let Ok(offer) = String::from_utf8(body.to_vec()) else {
        return plain(StatusCode::BAD_REQUEST, "the offer is not UTF-8");
    };
    if let Some(crate::cluster::Node::Edge(edge)) = &state.cluster {
        // An edge node only relays: WHEP viewers, no ingest (docs/cluster.md).
        if kind == Kind::Whip {
            return plain(
                StatusCode::NOT_FOUND,
                "this is an edge node: publish at the origin",
            );
        }
        let resp = match edge.whep(&state, &room_id, token, offer).await {
            Ok((answer, resource)) => created(&format!("/whep/{room_id}/{resource}"), answer),
            Err(e) => error_response(&e),
        };
        return with_cors(edge, resp);
    }
    let (claims, room) = match verify_access(&state, token) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    if claims.room != room_id {
        return plain(StatusCode::FORBIDDEN, "the token is for another room");
    }
    let (_, grants) = claims.grants.clone().unwrap_or_default().apply(claims.role);
    if kind == Kind::Whip && !grants.moderate {
        return plain(
            StatusCode::FORBIDDEN,
            "WHIP ingest takes over the stage: it needs a moderator's token",
        );
    }
    let participant = claims.sub.clone();
    match open_session(&room, claims, offer, kind).await {
        Ok((conn, answer)) => {
            let resource = random_id();
            let location = format!("/{}/{room_id}/{resource}", kind.path());
            state
                .whip
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    resource,
                    Session {
                        room,
                        participant,
                        conn,
                    },
                );
            created(&location, answer)
        }
        Err(e) => error_response(&e),
    }
}

/// `201 Created` with the SDP answer and the session's location.
fn created(location: &str, answer: String) -> Response {
    let mut resp = (StatusCode::CREATED, answer).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    resp
}

/// Join the room as the token's participant, negotiate, and (WHIP) publish onto the stage.
async fn open_session(
    room: &RoomHandle,
    claims: crate::auth::Claims,
    offer: String,
    kind: Kind,
) -> Result<(ConnId, String), ErrorBody> {
    let conn = next_conn();
    let participant = claims.sub.clone();
    let (out, mut events) = mpsc::unbounded_channel();
    // Nobody reads a session's events; keep the channel open until the room closes it.
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if matches!(ev, Outbound::Close(_)) {
                break;
            }
        }
    });
    let joined = ask(room, |reply| RoomMsg::Join {
        claims,
        conn,
        out,
        reply,
    })
    .await?;
    if joined["lobby"] == "waiting" {
        let _ = room.send(RoomMsg::Disconnected { participant, conn });
        return Err(ErrorBody::new(
            ErrorCode::Forbidden,
            "the room's lobby is on: admit this participant first",
        ));
    }
    let command = |command| {
        let participant = participant.clone();
        move |reply| RoomMsg::Command {
            participant,
            conn,
            command,
            reply,
        }
    };
    let front = match kind {
        Kind::Whip => Front::Whip,
        Kind::Whep => Front::Whep,
    };
    let answer = match ask(room, command(Command::Offer { sdp: offer, front })).await {
        Ok(a) => a,
        Err(e) => {
            let _ = room.send(RoomMsg::Disconnected { participant, conn });
            return Err(e);
        }
    };
    if kind == Kind::Whip {
        for kind in [MediaKindArg::Audio, MediaKindArg::Video] {
            ask(room, command(Command::Publish { kind })).await?;
        }
        ask(
            room,
            command(Command::SetStage {
                participant_id: Some(participant.clone()),
            }),
        )
        .await?;
    }
    let sdp = answer["sdp"].as_str().unwrap_or_default().to_owned();
    Ok((conn, sdp))
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// `DELETE` on a session: only with the session owner's token, or a moderator's of the
/// session's room. Anything else changes nothing.
async fn end(
    State(state): State<Arc<AppState>>,
    Path((room_id, resource)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return error_response(&ErrorBody::new(
            ErrorCode::InvalidToken,
            "a bearer token is required",
        ));
    };
    if let Some(crate::cluster::Node::Edge(edge)) = &state.cluster {
        let resp = edge
            .end_whep(&state, &room_id, &resource, token)
            .into_response();
        return with_cors(edge, resp);
    }
    let claims = match verify_access(&state, token) {
        Ok((claims, _)) => claims,
        Err(e) => return error_response(&e),
    };
    let mut sessions = state.whip.0.lock().unwrap_or_else(|e| e.into_inner());
    let Some(session) = sessions.get(&resource).filter(|s| s.room.id == room_id) else {
        return plain(StatusCode::NOT_FOUND, "no such session");
    };
    let (_, grants) = claims.grants.clone().unwrap_or_default().apply(claims.role);
    let owner = claims.sub == session.participant;
    if claims.room != room_id || !(owner || grants.moderate) {
        return plain(
            StatusCode::FORBIDDEN,
            "only the session's owner or a moderator of its room may end it",
        );
    }
    let Some(s) = sessions.remove(&resource) else {
        return plain(StatusCode::NOT_FOUND, "no such session");
    };
    drop(sessions);
    let _ = s.room.send(RoomMsg::Disconnected {
        participant: s.participant,
        conn: s.conn,
    });
    StatusCode::OK.into_response()
}

/// CORS for an edge's WHEP endpoints: the origin's pages (the watch page) call them.
fn with_cors(edge: &crate::cluster::Edge, mut resp: Response) -> Response {
    if let Some(origin) = edge
        .cors_origin()
        .and_then(|o| HeaderValue::from_str(&o).ok())
    {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Location"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

/// `OPTIONS` (CORS preflight) on WHEP at an edge; elsewhere nothing is allowed cross-origin.
async fn preflight(State(state): State<Arc<AppState>>) -> Response {
    let Some(crate::cluster::Node::Edge(edge)) = &state.cluster else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let mut resp = with_cors(edge, StatusCode::NO_CONTENT.into_response());
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, DELETE"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    resp
}

async fn no_trickle() -> Response {
    let mut resp = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "trickle ICE and ICE restarts are not supported: the answer has the only candidate",
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("DELETE"));
    resp
}

pub(crate) fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}
