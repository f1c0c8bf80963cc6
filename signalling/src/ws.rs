//! One WebSocket connection: parse commands, check them, hand them to the room, write
//! answers and events. A single writer task owns the socket's sending half.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::debug;

use crate::AppState;
use crate::auth::TokenError;
use crate::protocol::{
    Answer, CloseReason, Command, ErrorBody, ErrorCode, Event, PROTOCOL_VERSION, parse_envelope,
};
use crate::room::{ConnId, Outbound, RoomHandle, RoomMsg};

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

struct Joined {
    room: RoomHandle,
    participant: String,
}

/// A new connection's id (WebSocket or WHIP/WHEP session).
pub(crate) fn next_conn() -> ConnId {
    ConnId(NEXT_CONN.fetch_add(1, Ordering::Relaxed))
}

/// Check an access token: signature and expiry, an unrevoked invite for the token's room and
/// participant, and the room. Returns the claims and the room's actor.
pub(crate) fn verify_access(
    state: &AppState,
    token: &str,
) -> Result<(crate::auth::Claims, RoomHandle), ErrorBody> {
    let claims = state
        .keys
        .verify(token, (state.clock)())
        .map_err(|e| match e {
            TokenError::Invalid => ErrorBody::new(ErrorCode::InvalidToken, e.to_string()),
            TokenError::Expired => ErrorBody::new(ErrorCode::TokenExpired, e.to_string()),
        })?;
    // The invite must exist and not be revoked, for the room the token names.
    let invite = state
        .store
        .invite(&claims.jti)
        .map_err(|_| ErrorBody::new(ErrorCode::Internal, "storage unavailable"))?;
    if !invite
        .is_some_and(|i| !i.revoked && i.room_id == claims.room && i.participant_id == claims.sub)
    {
        return Err(ErrorBody::new(
            ErrorCode::InvalidToken,
            "this invite is not valid (any more)",
        ));
    }
    let Some(room) = state.rooms.get_or_start(&claims.room)? else {
        return Err(ErrorBody::new(
            ErrorCode::InvalidToken,
            "the token's room does not exist",
        ));
    };
    Ok((claims, room))
}

/// Keeps the `closing` event behind the answer of the command in flight: a close the room
/// orders (e.g. `replaced`) waits until the reader has queued that answer.
#[derive(Debug, Default)]
struct Gate {
    in_flight: AtomicBool,
    closing: AtomicBool,
    done: Notify,
}

/// Commands the budget never refuses: a vote (each right counts once anyway), leaving.
fn exempt(command: &Command) -> bool {
    matches!(
        command,
        Command::CastVote { .. }
            | Command::CastBallot { .. }
            | Command::Leave
            | Command::Join { .. }
    )
}

/// Serve one upgraded WebSocket until either side closes it.
pub async fn serve(socket: WebSocket, state: Arc<AppState>) {
    let conn = next_conn();
    let (mut sink, mut stream) = socket.split();
    // Counted as waiting to join until it has joined (or is gone).
    let Some(pending) = state.limits.admit_pending() else {
        metrics::counter!("plenum_ws_rejected_pending_total").increment(1);
        let closing = to_json(&Event::Closing {
            reason: CloseReason::Error,
        });
        let _ = sink.send(Message::Text(closing.into())).await;
        let _ = sink.send(Message::Close(None)).await;
        return;
    };
    let mut pending = Some(pending);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outbound>();
    let (answer_tx, mut answer_rx) = mpsc::unbounded_channel::<String>();
    let gate = Arc::new(Gate::default());

    let writer_gate = gate.clone();
    let writer = tokio::spawn(async move {
        loop {
            let text = tokio::select! {
                biased;
                Some(a) = answer_rx.recv() => a,
                o = out_rx.recv() => match o {
                    Some(Outbound::Event(e)) => to_json(&e),
                    Some(Outbound::Close(reason)) => {
                        // Answer the command in flight first: exactly one answer per command.
                        writer_gate.closing.store(true, Ordering::SeqCst);
                        loop {
                            let done = writer_gate.done.notified();
                            if !writer_gate.in_flight.load(Ordering::SeqCst) {
                                break;
                            }
                            done.await;
                        }
                        while let Ok(a) = answer_rx.try_recv() {
                            let _ = sink.send(Message::Text(a.into())).await;
                        }
                        let _ = sink.send(Message::Text(to_json(&Event::Closing { reason }).into())).await;
                        let _ = sink.send(Message::Close(None)).await;
                        break;
                    }
                    None => break,
                },
            };
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    metrics::gauge!("plenum_ws_connections").increment(1.0);

    let mut joined: Option<Joined> = None;
    let mut writer = writer;
    let mut budget = state.limits.bucket();
    let started = tokio::time::Instant::now();
    // Pings (frames or the `ping` command) do not extend this: only `join` does.
    let join_deadline = started + state.limits.join_timeout;
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = &mut writer => break,
            () = tokio::time::sleep_until(join_deadline), if joined.is_none() => {
                metrics::counter!("plenum_ws_join_timeouts_total").increment(1);
                let _ = out_tx.send(Outbound::Close(CloseReason::JoinTimeout));
                let _ = (&mut writer).await;
                break;
            }
        };
        let parsed = match msg {
            Some(Ok(Message::Text(t))) => parse_envelope(t.as_str()),
            Some(Ok(Message::Binary(_))) => Err((
                None,
                ErrorBody::new(
                    ErrorCode::BadRequest,
                    "binary frames are not part of the protocol",
                ),
            )),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue, // ping/pong are handled by the library
        };
        gate.in_flight.store(true, Ordering::SeqCst);
        if gate.closing.load(Ordering::SeqCst) {
            // The connection is being closed: take no new command.
            gate.in_flight.store(false, Ordering::SeqCst);
            gate.done.notify_one();
            break;
        }
        let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let within_budget = match &parsed {
            Ok(e) if exempt(&e.command) => Ok(()),
            _ => budget.take(now_ms),
        };
        let (answer, close) = match (parsed, within_budget) {
            (parsed, Err(wait)) => {
                metrics::counter!("plenum_ws_rate_limited_total").increment(1);
                let id = match &parsed {
                    Ok(e) => Some(e.id),
                    Err((id, _)) => *id,
                };
                let err = ErrorBody::new(
                    ErrorCode::RateLimited,
                    format!("too many commands: retry in {wait} ms"),
                )
                .with_retry_after(wait);
                (Answer::err(id, err), None)
            }
            (Ok(envelope), Ok(())) => handle(&state, conn, &out_tx, &mut joined, envelope).await,
            (Err((id, err)), Ok(())) => (Answer::err(id, err), None),
        };
        let _ = answer_tx.send(to_json(&answer));
        gate.in_flight.store(false, Ordering::SeqCst);
        gate.done.notify_one();
        if joined.is_some() {
            pending = None;
        }
        if let Some(reason) = close {
            let _ = out_tx.send(Outbound::Close(reason));
        }
    }
    drop(pending);
    if let Some(j) = joined {
        let _ = j.room.send(RoomMsg::Disconnected {
            participant: j.participant,
            conn,
        });
    }
    metrics::gauge!("plenum_ws_connections").decrement(1.0);
    debug!(conn = conn.0, "connection closed");
}

/// Handle one parsed command: the answer, and whether to close the connection afterwards.
async fn handle(
    state: &AppState,
    conn: ConnId,
    out: &mpsc::UnboundedSender<Outbound>,
    joined: &mut Option<Joined>,
    envelope: crate::protocol::Envelope,
) -> (Answer, Option<CloseReason>) {
    let id = envelope.id;
    metrics::counter!("plenum_ws_commands_total", "cmd" => envelope.command.name()).increment(1);
    let leaving = matches!(envelope.command, Command::Leave);
    let result = match envelope.command {
        Command::Ping => Ok(json!({})),
        Command::Join { protocol, token } => {
            if joined.is_some() {
                Err(ErrorBody::new(
                    ErrorCode::AlreadyJoined,
                    "this connection has joined already",
                ))
            } else {
                join(state, conn, out, joined, protocol, &token).await
            }
        }
        command => match joined.as_ref() {
            None => Err(ErrorBody::new(ErrorCode::NotJoined, "send join first")),
            Some(j) => {
                ask(&j.room, |reply| RoomMsg::Command {
                    participant: j.participant.clone(),
                    conn,
                    command,
                    reply,
                })
                .await
            }
        },
    };
    match result {
        Ok(v) => (Answer::ok(id, v), leaving.then_some(CloseReason::Left)),
        Err(e) => {
            let close = e.code.closes_connection().then_some(CloseReason::Error);
            (Answer::err(Some(id), e), close)
        }
    }
}

async fn join(
    state: &AppState,
    conn: ConnId,
    out: &mpsc::UnboundedSender<Outbound>,
    joined: &mut Option<Joined>,
    protocol: u32,
    token: &str,
) -> Result<serde_json::Value, ErrorBody> {
    if protocol != PROTOCOL_VERSION {
        return Err(ErrorBody::new(
            ErrorCode::UnsupportedVersion,
            format!("this server speaks protocol {PROTOCOL_VERSION}"),
        ));
    }
    let (claims, room) = verify_access(state, token)?;
    let participant = claims.sub.clone();
    let mut result = ask(&room, |reply| RoomMsg::Join {
        claims,
        conn,
        out: out.clone(),
        reply,
    })
    .await?;
    result["ice_servers"] = json!(state.turn.ice_servers(&participant, (state.clock)()));
    *joined = Some(Joined { room, participant });
    Ok(result)
}

pub(crate) async fn ask(
    room: &RoomHandle,
    msg: impl FnOnce(oneshot::Sender<Result<serde_json::Value, ErrorBody>>) -> RoomMsg,
) -> Result<serde_json::Value, ErrorBody> {
    let (tx, rx) = oneshot::channel();
    room.send(msg(tx))?;
    rx.await
        .map_err(|_| ErrorBody::new(ErrorCode::Internal, "the room did not answer"))?
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our protocol types serialize infallibly (no maps with non-string keys, no custom
    // serializers that can fail).
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}
