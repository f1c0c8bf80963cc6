//! WHIP (RFC 9725) and WHEP clients on str0m: publish synthetic media into a room's stage
//! the way a hall camera would, or watch the stage without the full client.

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};

use crate::participant::{
    MediaSession, ParticipantConfig, ParticipantError, add_send_media, local_peer,
};
use crate::server::{HttpResponse, https_request};

/// A running WHIP or WHEP session.
#[derive(Debug)]
pub struct HttpSession {
    /// The media.
    pub media: MediaSession,
    /// The session URL path from `Location` (for `DELETE`).
    pub location: String,
    base_url: String,
    ca_pem: Vec<u8>,
    token: String,
}

impl HttpSession {
    fn new(config: &ParticipantConfig, media: MediaSession, location: String) -> Self {
        Self {
            media,
            location,
            base_url: config.base_url.clone(),
            ca_pem: config.ca_pem.clone().unwrap_or_default(),
            token: config.token.clone(),
        }
    }

    /// `DELETE` the session with its own bearer token; returns the status.
    pub async fn delete(&self) -> Result<u16, String> {
        let token = self.token.clone();
        self.delete_as(Some(&token)).await
    }

    /// `DELETE` the session with another bearer token, or none (authorization tests).
    pub async fn delete_as(&self, token: Option<&str>) -> Result<u16, String> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        let resp = https_request(
            &self.base_url,
            &self.ca_pem,
            "DELETE",
            &self.location,
            &headers,
            &[],
        )
        .await?;
        Ok(resp.status)
    }

    /// Any request on the session URL (e.g. `PATCH` for trickle ICE).
    pub async fn request(
        &self,
        method: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<HttpResponse, String> {
        https_request(
            &self.base_url,
            &self.ca_pem,
            method,
            &self.location,
            &[("Content-Type", content_type)],
            body,
        )
        .await
    }
}

fn rtc_err(e: impl std::fmt::Display) -> ParticipantError {
    ParticipantError::Rtc(e.to_string())
}

/// POST an SDP offer to `path` with the config's token as bearer.
pub async fn post_offer(
    config: &ParticipantConfig,
    path: &str,
    sdp: &str,
) -> Result<HttpResponse, ParticipantError> {
    let ca = config.ca_pem.clone().unwrap_or_default();
    let auth = format!("Bearer {}", config.token);
    https_request(
        &config.base_url,
        &ca,
        "POST",
        path,
        &[
            ("Content-Type", "application/sdp"),
            ("Authorization", &auth),
        ],
        sdp.as_bytes(),
    )
    .await
    .map_err(rtc_err)
}

/// Publish the config's microphone and camera layers to `/whip/{room}`.
pub async fn whip_publish(
    config: &ParticipantConfig,
    room: &str,
) -> Result<HttpSession, ParticipantError> {
    let (socket, mut rtc) = local_peer(config.bind_ip).await?;
    let mut api = rtc.sdp_api();
    let (audio_mid, video_mid) = add_send_media(&mut api, config);
    let (offer, pending) = api.apply().ok_or_else(|| rtc_err("nothing to offer"))?;
    let (location, rtc) = negotiate(
        config,
        &format!("/whip/{room}"),
        offer.to_sdp_string(),
        pending,
        rtc,
    )
    .await?;
    let media = MediaSession::start(rtc, socket, audio_mid, video_mid, Vec::new(), config)?;
    Ok(HttpSession::new(config, media, location))
}

/// Watch `/whep/{room}`: one video (the stage) and one audio m-line, received as slots
/// `stage` and `audio-0`.
pub async fn whep_view(
    config: &ParticipantConfig,
    room: &str,
) -> Result<HttpSession, ParticipantError> {
    let (socket, mut rtc) = local_peer(config.bind_ip).await?;
    let mut api = rtc.sdp_api();
    let video = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    let audio = api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or_else(|| rtc_err("nothing to offer"))?;
    let (location, rtc) = negotiate(
        config,
        &format!("/whep/{room}"),
        offer.to_sdp_string(),
        pending,
        rtc,
    )
    .await?;
    let names = vec![
        (video.to_string(), "stage".to_owned()),
        (audio.to_string(), "audio-0".to_owned()),
    ];
    let mut quiet = config.clone();
    quiet.publish_audio = false;
    quiet.layers.clear();
    let media = MediaSession::start(rtc, socket, None, None, names, &quiet)?;
    Ok(HttpSession::new(config, media, location))
}

/// POST the offer, accept the answer; returns the session's `Location`.
async fn negotiate(
    config: &ParticipantConfig,
    path: &str,
    offer: String,
    pending: SdpPendingOffer,
    mut rtc: Box<str0m::Rtc>,
) -> Result<(String, Box<str0m::Rtc>), ParticipantError> {
    let resp = post_offer(config, path, &offer).await?;
    if resp.status != 201 {
        return Err(rtc_err(format!(
            "{path}: HTTP {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        )));
    }
    let answer =
        SdpAnswer::from_sdp_string(&String::from_utf8_lossy(&resp.body)).map_err(rtc_err)?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(rtc_err)?;
    let location = resp.header("location").unwrap_or_default().to_owned();
    Ok((location, rtc))
}
