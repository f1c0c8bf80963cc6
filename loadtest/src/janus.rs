//! Janus VideoRoom as a peer SFU: the same synthetic publisher and viewers, signalled over
//! Janus's REST API (JSON over HTTP, replies on a long poll), so both servers can be measured
//! on the same load in the same run.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Mid, Simulcast, SimulcastLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::participant::{MediaSession, ParticipantConfig, ParticipantError, local_peer};

/// Janus failures.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    /// HTTP or socket trouble.
    #[error("janus http: {0}")]
    Http(String),
    /// Janus answered with an error or something unexpected.
    #[error("janus: {0}")]
    Protocol(String),
    /// WebRTC trouble.
    #[error(transparent)]
    Media(#[from] ParticipantError),
}

fn http(e: impl std::fmt::Display) -> JanusError {
    JanusError::Http(e.to_string())
}

/// One Janus session with one VideoRoom handle.
#[derive(Debug)]
struct Session {
    api: SocketAddr,
    session: u64,
    handle: u64,
    next: u64,
}

impl Session {
    async fn open(api: SocketAddr) -> Result<Self, JanusError> {
        let mut s = Self {
            api,
            session: 0,
            handle: 0,
            next: 1,
        };
        let created = s.request("/janus", json!({"janus": "create"})).await?;
        s.session = created["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Protocol(format!("create: {created}")))?;
        let path = format!("/janus/{}", s.session);
        let attached = s
            .request(
                &path,
                json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}),
            )
            .await?;
        s.handle = attached["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Protocol(format!("attach: {attached}")))?;
        Ok(s)
    }

    async fn request(&mut self, path: &str, mut body: Value) -> Result<Value, JanusError> {
        body["transaction"] = json!(format!("t{}", self.next));
        self.next += 1;
        let text = http_call(self.api, "POST", path, Some(&body.to_string())).await?;
        let v: Value = serde_json::from_str(&text).map_err(http)?;
        if v["janus"] == "error" {
            return Err(JanusError::Protocol(v["error"].to_string()));
        }
        Ok(v)
    }

    /// Send a plugin message and wait for its asynchronous event (with the same transaction).
    async fn message(&mut self, body: Value, jsep: Option<Value>) -> Result<Value, JanusError> {
        let transaction = format!("t{}", self.next);
        let mut msg = json!({"janus": "message", "body": body});
        if let Some(j) = jsep {
            msg["jsep"] = j;
        }
        let path = format!("/janus/{}/{}", self.session, self.handle);
        let ack = self.request(&path, msg).await?;
        if ack["janus"] == "success" {
            return Ok(ack);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let path = format!("/janus/{}?maxev=10", self.session);
            let text = http_call(self.api, "GET", &path, None).await?;
            let v: Value = serde_json::from_str(&text).map_err(http)?;
            let events = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            for ev in events {
                if ev["transaction"] == json!(transaction) && ev["janus"] == "event" {
                    if let Some(err) = ev["plugindata"]["data"].get("error") {
                        return Err(JanusError::Protocol(err.to_string()));
                    }
                    return Ok(ev);
                }
            }
        }
        Err(JanusError::Protocol(format!("no answer to {transaction}")))
    }

    async fn keepalive(&mut self) {
        let path = format!("/janus/{}", self.session);
        let _ = self.request(&path, json!({"janus": "keepalive"})).await;
    }
}

/// A minimal HTTP/1.1 client for Janus's REST API on loopback.
async fn http_call(
    api: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<String, JanusError> {
    let mut tcp = TcpStream::connect(api).await.map_err(http)?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.map_err(http)?;
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).await.map_err(http)?;
    let (head, rest) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| JanusError::Http("no header end".into()))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(JanusError::Http(
            head.lines().next().unwrap_or("").to_owned(),
        ));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(rest));
    }
    Ok(rest.to_owned())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A publisher in a Janus VideoRoom.
#[derive(Debug)]
pub struct JanusPublisher {
    /// The publisher's feed id.
    pub feed: u64,
    /// Its media.
    pub media: MediaSession,
    session: Session,
}

impl JanusPublisher {
    /// Join `room` as publisher and publish audio + the configured simulcast layers. Janus
    /// orders simulcast layers high to low; `config.layers` are given low to high.
    pub async fn join(
        api: SocketAddr,
        room: u64,
        config: &ParticipantConfig,
    ) -> Result<Self, JanusError> {
        let mut session = Session::open(api).await?;
        let joined = session
            .message(
                json!({"request": "join", "ptype": "publisher", "room": room, "display": "pub"}),
                None,
            )
            .await?;
        let feed = joined["plugindata"]["data"]["id"]
            .as_u64()
            .ok_or_else(|| JanusError::Protocol(format!("join: {joined}")))?;

        let (socket, mut rtc) = local_peer(config.bind_ip).await?;
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let mut sim = Simulcast::new();
        for l in config.layers.iter().rev() {
            sim.add_send_layer(SimulcastLayer::new(l.rid));
        }
        let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(sim));
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| JanusError::Protocol("nothing to offer".into()))?;
        let configured = session
            .message(
                json!({"request": "publish", "audio": true, "video": true}),
                Some(json!({"type": "offer", "sdp": offer.to_sdp_string()})),
            )
            .await?;
        let sdp = configured["jsep"]["sdp"]
            .as_str()
            .ok_or_else(|| JanusError::Protocol(format!("publish: {configured}")))?;
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(http)?;
        rtc.sdp_api().accept_answer(pending, answer).map_err(http)?;
        let media = MediaSession::start(rtc, socket, Some(audio), Some(video), vec![], config)?;
        Ok(Self {
            feed,
            media,
            session,
        })
    }

    /// Keep the Janus session alive (its timeout is 60 s).
    pub async fn keepalive(&mut self) {
        self.session.keepalive().await;
    }
}

/// A viewer of one feed in a Janus VideoRoom, on the top simulcast layer.
#[derive(Debug)]
pub struct JanusViewer {
    /// Its media ("stage" = the video, "audio-0" = the audio).
    pub media: MediaSession,
    session: Session,
}

impl JanusViewer {
    /// Subscribe to `feed` in `room`, answer Janus's offer, pick substream 2 (top layer).
    pub async fn join(
        api: SocketAddr,
        room: u64,
        feed: u64,
        config: &ParticipantConfig,
    ) -> Result<Self, JanusError> {
        let mut session = Session::open(api).await?;
        let attached = session
            .message(
                json!({"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]}),
                None,
            )
            .await?;
        let offer_sdp = attached["jsep"]["sdp"]
            .as_str()
            .ok_or_else(|| JanusError::Protocol(format!("subscribe: {attached}")))?
            .to_owned();
        let (socket, mut rtc) = local_peer(config.bind_ip).await?;
        let offer = SdpOffer::from_sdp_string(&offer_sdp).map_err(http)?;
        let answer = rtc.sdp_api().accept_offer(offer).map_err(http)?;
        let mut names = Vec::new();
        let mut video_mid: Option<Mid> = None;
        let mut kind = None;
        for line in offer_sdp.lines() {
            if line.starts_with("m=audio") {
                kind = Some("audio-0");
            } else if line.starts_with("m=video") {
                kind = Some("stage");
            } else if let Some(mid) = line.strip_prefix("a=mid:")
                && let Some(k) = kind.take()
            {
                if k == "stage" {
                    video_mid = Some(Mid::from(mid.trim()));
                }
                names.push((mid.trim().to_owned(), k.to_owned()));
            }
        }
        session
            .message(
                json!({"request": "start"}),
                Some(json!({"type": "answer", "sdp": answer.to_sdp_string()})),
            )
            .await?;
        if let Some(mid) = video_mid {
            session
                .message(
                    json!({"request": "configure", "streams": [{"mid": mid.to_string(), "substream": 2}]}),
                    None,
                )
                .await?;
        }
        let mut cfg = config.clone();
        cfg.publish_audio = false;
        cfg.layers.clear();
        let media = MediaSession::start(rtc, socket, None, None, names, &cfg)?;
        Ok(Self { media, session })
    }

    /// Keep the Janus session alive.
    pub async fn keepalive(&mut self) {
        self.session.keepalive().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks_http_bodies() {
        assert_eq!(dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"), "Wikipedia");
    }
}
