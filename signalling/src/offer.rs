//! The shape of an SDP offer, checked before the media plane parses it (docs/protocol.md,
//! *offer* and *WHIP ingest and WHEP egress*): a few counts read off the text, so an
//! oversized or misshapen offer costs almost nothing and never reaches str0m.

use plenum_sfu::SlotLayout;

/// Largest accepted offer (a browser's offer with all slots is about 10 KiB).
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

/// Who sent the offer: the shape each may offer differs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Front {
    /// The WebSocket client (`offer` command): exactly the receive slots `join` announced.
    #[default]
    Client,
    /// A WHIP publisher: send lines only.
    Whip,
    /// A WHEP viewer: receive lines only, one video (the stage).
    Whep,
}

/// The m-lines of an offer, by kind and direction (the client's direction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// `sendonly` audio.
    pub send_audio: usize,
    /// `sendonly` video.
    pub send_video: usize,
    /// `recvonly` audio.
    pub recv_audio: usize,
    /// `recvonly` video.
    pub recv_video: usize,
    /// `inactive` lines (ignored).
    pub inactive: usize,
}

/// Read the shape of `sdp`, refusing anything but audio and video m-lines that send only,
/// receive only or are inactive.
pub fn shape(sdp: &str) -> Result<Shape, String> {
    let mut shape = Shape::default();
    let mut current: Option<(&str, &str)> = None;
    let finish = |section: Option<(&str, &str)>, shape: &mut Shape| -> Result<(), String> {
        let Some((kind, direction)) = section else {
            return Ok(());
        };
        let slot = match (kind, direction) {
            ("audio", "sendonly") => &mut shape.send_audio,
            ("video", "sendonly") => &mut shape.send_video,
            ("audio", "recvonly") => &mut shape.recv_audio,
            ("video", "recvonly") => &mut shape.recv_video,
            ("audio" | "video", "inactive") => &mut shape.inactive,
            ("audio" | "video", _) => {
                return Err(format!(
                    "{kind} m-lines must be sendonly or recvonly, not {direction}"
                ));
            }
            _ => {
                return Err(format!(
                    "only audio and video m-lines are accepted, not {kind}"
                ));
            }
        };
        *slot += 1;
        Ok(())
    };
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            finish(current.take(), &mut shape)?;
            let kind = m.split(' ').next().unwrap_or_default();
            // Without a direction attribute an m-line is sendrecv (RFC 8866).
            current = Some((kind, "sendrecv"));
        } else if let Some((_, direction)) = current.as_mut()
            && let Some(d) = line.strip_prefix("a=")
            && matches!(d, "sendonly" | "recvonly" | "sendrecv" | "inactive")
        {
            *direction = d;
        }
    }
    finish(current, &mut shape)?;
    Ok(shape)
}

/// Check an offer from `front` against what the sender may publish and the server's slots.
/// The message says what is wrong, for the client.
pub fn check(sdp: &str, front: Front, may_publish: bool, slots: SlotLayout) -> Result<(), String> {
    if sdp.len() > MAX_OFFER_BYTES {
        return Err(format!("the offer is larger than {MAX_OFFER_BYTES} bytes"));
    }
    let (video_slots, audio_slots) = (
        usize::from(slots.stage) + usize::from(slots.tiles),
        usize::from(slots.audio),
    );
    let most = 2 + video_slots + audio_slots;
    let lines = sdp.lines().filter(|l| l.starts_with("m=")).count();
    if lines > most {
        return Err(format!(
            "the offer has {lines} m-lines; at most {most} are accepted"
        ));
    }
    let s = shape(sdp)?;
    if s.send_audio > 1 || s.send_video > 1 {
        return Err("at most one sendonly audio and one sendonly video m-line".into());
    }
    if !may_publish && s.send_audio + s.send_video > 0 {
        return Err("your role does not publish: the offer may not send".into());
    }
    match front {
        Front::Client if (s.recv_video, s.recv_audio) != (video_slots, audio_slots) => {
            Err(format!(
                "the offer must receive {video_slots} video and {audio_slots} audio slots (join's `slots`), not {} and {}",
                s.recv_video, s.recv_audio
            ))
        }
        Front::Whip if s.recv_audio + s.recv_video > 0 || s.send_audio + s.send_video == 0 => {
            Err("a WHIP offer sends (audio and/or video) and receives nothing".into())
        }
        Front::Whep
            if s.send_audio + s.send_video > 0
                || s.recv_video != 1
                || s.recv_audio > audio_slots =>
        {
            Err(format!(
                "a WHEP offer receives one video and at most {audio_slots} audio m-lines and sends nothing"
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: SlotLayout = SlotLayout {
        stage: 1,
        tiles: 2,
        audio: 2,
    };

    fn sdp(lines: &[(&str, &str)]) -> String {
        let mut s = String::from("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n");
        for (kind, dir) in lines {
            s.push_str(&format!(
                "m={kind} 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
            ));
            if !dir.is_empty() {
                s.push_str(&format!("a={dir}\r\n"));
            }
        }
        s
    }

    fn client(publish: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v = publish.to_vec();
        v.extend([("video", "recvonly"); 3]);
        v.extend([("audio", "recvonly"); 2]);
        v
    }

    #[test]
    fn the_documented_shapes_pass() {
        let full = sdp(&client(&[("audio", "sendonly"), ("video", "sendonly")]));
        assert_eq!(check(&full, Front::Client, true, SLOTS), Ok(()));
        assert_eq!(
            check(&sdp(&client(&[])), Front::Client, false, SLOTS),
            Ok(())
        );
        let whip = sdp(&[("audio", "sendonly"), ("video", "sendonly")]);
        assert_eq!(check(&whip, Front::Whip, true, SLOTS), Ok(()));
        let whep = sdp(&[("video", "recvonly"), ("audio", "recvonly")]);
        assert_eq!(check(&whep, Front::Whep, false, SLOTS), Ok(()));
        assert_eq!(
            shape(&full).unwrap(),
            Shape {
                send_audio: 1,
                send_video: 1,
                recv_audio: 2,
                recv_video: 3,
                inactive: 0
            }
        );
    }

    #[test]
    fn every_other_shape_is_refused_with_a_reason() {
        let refused = |lines: &[(&str, &str)], front, publish| {
            check(&sdp(lines), front, publish, SLOTS).unwrap_err()
        };
        let two_mics = client(&[("audio", "sendonly"), ("audio", "sendonly")]);
        assert!(refused(&two_mics, Front::Client, true).contains("at most one"));
        let observer_sends = client(&[("audio", "sendonly")]);
        assert!(refused(&observer_sends, Front::Client, false).contains("does not publish"));
        let no_video = [("audio", "recvonly"), ("audio", "recvonly")];
        assert!(refused(&no_video, Front::Client, true).contains("must receive 3 video"));
        let mut too_few = client(&[]);
        too_few.remove(0);
        assert!(refused(&too_few, Front::Client, true).contains("must receive"));
        let sendrecv = [("audio", "")];
        assert!(refused(&sendrecv, Front::Client, true).contains("not sendrecv"));
        let data = [("application", "sendrecv")];
        assert!(refused(&data, Front::Client, true).contains("only audio and video"));
        let whip_receives = [("video", "sendonly"), ("video", "recvonly")];
        assert!(refused(&whip_receives, Front::Whip, true).contains("WHIP"));
        let whep_sends = [("video", "recvonly"), ("audio", "sendonly")];
        assert!(refused(&whep_sends, Front::Whep, true).contains("WHEP"));
        let many = vec![("video", "recvonly"); 501];
        assert!(refused(&many, Front::Client, true).contains("501 m-lines"));
        let huge = format!(
            "{}a=x:{}\r\n",
            sdp(&client(&[])),
            "y".repeat(MAX_OFFER_BYTES)
        );
        assert!(
            check(&huge, Front::Client, true, SLOTS)
                .unwrap_err()
                .contains("larger")
        );
    }
}
