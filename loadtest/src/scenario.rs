//! Load scenarios as TOML files (`loadtest/scenarios/*.toml`).

use std::path::Path;

use serde::Deserialize;

use crate::synth::LayerSpec;

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name for reports.
    pub name: String,
    /// Measurement time after the ramp-up.
    pub duration_secs: u64,
    /// Joins are spread over this time.
    pub ramp_up_secs: u64,
    /// With `talk = "turns"`: the speaker changes this often.
    #[serde(default = "default_turn")]
    pub speaker_change_secs: u64,
    /// `open` or `congress`: the first moderator switches the room to it after joining
    /// (unset: the room keeps its mode; the demo congress is in congress mode).
    #[serde(default)]
    pub room_mode: Option<RoomMode>,
    /// Edge nodes (docs/cluster.md): with `--server`, the load tester starts the server as
    /// the origin and this many edges beside it (0: one server, no cascade).
    #[serde(default)]
    pub edges: usize,
    /// Kinds of participants.
    pub groups: Vec<Group>,
}

fn default_turn() -> u64 {
    20
}

/// Participants that behave alike.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Display name prefix.
    pub name: String,
    /// `moderator`, `delegate` or `observer`.
    pub role: String,
    /// How many.
    pub count: usize,
    /// Publish a microphone (default true).
    #[serde(default = "yes")]
    pub audio: bool,
    /// `always`, `bursts`, `turns` or `silent`.
    pub talk: TalkMode,
    /// Pin the group's first member to the stage.
    #[serde(default)]
    pub pin_stage: bool,
    /// Camera layers (empty: no camera).
    #[serde(default)]
    pub layers: Vec<Layer>,
    /// How the group connects: `ws` (default: the full client protocol, publishing as
    /// configured) or `whep` (watch only: the stage and the audio, nothing published).
    #[serde(default)]
    pub via: Via,
    /// Where a `whep` group watches: `placement` (default: wherever the origin's
    /// `GET /api/cluster/placement/{room}` sends each viewer; the server itself without
    /// edges) or `origin` (directly at the origin, e.g. as the reference for the latency
    /// an edge adds).
    #[serde(default)]
    pub at: WatchAt,
    /// Each member's downlink in kbit/s, as a slow access link: what the server sends
    /// queues for at most 150 ms at this rate and is dropped beyond (unset: loopback's
    /// speed). The report gives such members' figures apart from everyone else's.
    #[serde(default)]
    pub downlink_kbps: Option<u32>,
}

/// The downlinks a scenario may simulate, in kbit/s.
pub const DOWNLINK_KBPS: std::ops::RangeInclusive<u32> = 100..=1_000_000;

/// How a group's members connect.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The WebSocket protocol and one WebRTC connection with all slots.
    #[default]
    Ws,
    /// A WHEP viewer (RFC 9725's egress twin): the stage and the audio.
    Whep,
}

/// Where WHEP viewers watch.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WatchAt {
    /// Where the origin's placement sends each viewer.
    #[default]
    Placement,
    /// At the origin itself.
    Origin,
}

fn yes() -> bool {
    true
}

/// Who is heard (docs/protocol.md, *Modes*).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RoomMode {
    /// Everyone; the loudest few fill the audio slots.
    Open,
    /// The floor holder and moderators only.
    Congress,
}

impl RoomMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomMode::Open => "open",
            RoomMode::Congress => "congress",
        }
    }
}

/// When microphones carry speech.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TalkMode {
    /// Continuously.
    Always,
    /// In random bursts.
    Bursts,
    /// One member at a time, rotating every `speaker_change_secs`.
    Turns,
    /// Never.
    Silent,
}

/// One simulcast layer as written in a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// `q`, `h` or `f`.
    pub rid: String,
    /// Pixels.
    pub width: u16,
    /// Pixels.
    pub height: u16,
    /// Frames per second.
    pub fps: u32,
    /// Target bitrate.
    pub bitrate_kbps: u32,
}

impl Layer {
    /// As a generator spec.
    pub fn spec(&self) -> LayerSpec {
        let rid = match self.rid.as_str() {
            "h" => "h",
            "f" => "f",
            _ => "q",
        };
        LayerSpec {
            rid,
            width: self.width,
            height: self.height,
            fps: self.fps.max(1),
            bitrate: self.bitrate_kbps * 1000,
        }
    }
}

impl Scenario {
    /// Read and check a scenario file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let s: Scenario = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if s.groups.is_empty() {
            return Err(format!("{}: no groups", path.display()));
        }
        if let Some(g) = s.groups.iter().find(|g| {
            g.via == Via::Whep && (!g.layers.is_empty() || g.pin_stage || g.role == "moderator")
        }) {
            return Err(format!(
                "{}: group {}: a WHEP group only watches (no layers, no pin_stage, no moderator)",
                path.display(),
                g.name
            ));
        }
        if let Some(g) = s
            .groups
            .iter()
            .find(|g| g.via == Via::Ws && g.at != WatchAt::Placement)
        {
            return Err(format!(
                "{}: group {}: `at` is for WHEP groups",
                path.display(),
                g.name
            ));
        }
        if let Some(g) = s
            .groups
            .iter()
            .find(|g| g.downlink_kbps.is_some_and(|k| !DOWNLINK_KBPS.contains(&k)))
        {
            return Err(format!(
                "{}: group {}: downlink_kbps must be within {}..={}",
                path.display(),
                g.name,
                DOWNLINK_KBPS.start(),
                DOWNLINK_KBPS.end()
            ));
        }
        Ok(s)
    }

    /// All participants.
    pub fn participants(&self) -> usize {
        self.groups.iter().map(|g| g.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for name in [
            "congress-150",
            "congress-150-slow",
            "livestream",
            "meeting-25",
            "members-livestream",
        ] {
            let s = Scenario::load(&dir.join(format!("{name}.toml"))).unwrap();
            assert_eq!(s.name, name);
            assert!(s.participants() >= 25);
        }
        let c = Scenario::load(&dir.join("congress-150.toml")).unwrap();
        let stage_kbps: u32 = c.groups[0].layers.iter().map(|l| l.bitrate_kbps).sum();
        assert_eq!(stage_kbps, 2500, "~2.5 Mbit/s stage");
        assert_eq!(c.groups[1].count, 150);
        let m = Scenario::load(&dir.join("members-livestream.toml")).unwrap();
        assert_eq!(m.edges, 2);
        assert_eq!(m.groups[0].layers.len(), 3);
        assert_eq!(m.groups[0].via, Via::Ws);
        let viewers = m.groups.iter().max_by_key(|g| g.count).unwrap();
        assert_eq!((viewers.via, viewers.at), (Via::Whep, WatchAt::Placement));
        assert!(
            m.groups
                .iter()
                .any(|g| g.via == Via::Whep && g.at == WatchAt::Origin),
            "viewers at the origin: the reference for the hop's latency"
        );
        assert_eq!(c.edges, 0, "no cascade unless asked");
        assert!(c.groups.iter().all(|g| g.downlink_kbps.is_none()));
        let slow = Scenario::load(&dir.join("congress-150-slow.toml")).unwrap();
        assert_eq!(slow.participants(), c.participants());
        let limited: usize = slow
            .groups
            .iter()
            .filter(|g| g.downlink_kbps == Some(900))
            .map(|g| g.count)
            .sum();
        assert_eq!(limited, 15, "a tenth of the delegates behind 900 kbit/s");
    }

    #[test]
    fn whep_groups_only_watch_and_downlinks_stay_in_range() {
        let dir = std::env::temp_dir().join(format!("plenum-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "name = \"x\"\nduration_secs = 1\nramp_up_secs = 1\n[[groups]]\nname = \"a\"\n\
             role = \"observer\"\ncount = 1\ntalk = \"silent\"\nvia = \"whep\"\npin_stage = true\n",
        )
        .unwrap();
        assert!(Scenario::load(&bad).unwrap_err().contains("only watches"));
        std::fs::write(
            &bad,
            "name = \"x\"\nduration_secs = 1\nramp_up_secs = 1\n[[groups]]\nname = \"a\"\n\
             role = \"observer\"\ncount = 1\ntalk = \"silent\"\nat = \"origin\"\n",
        )
        .unwrap();
        assert!(
            Scenario::load(&bad)
                .unwrap_err()
                .contains("for WHEP groups")
        );
        for (kbps, ok) in [
            (99, false),
            (100, true),
            (1_000_000, true),
            (1_000_001, false),
        ] {
            std::fs::write(
                &bad,
                format!(
                    "name = \"x\"\nduration_secs = 1\nramp_up_secs = 1\n[[groups]]\n\
                     name = \"a\"\nrole = \"delegate\"\ncount = 1\ntalk = \"silent\"\n\
                     downlink_kbps = {kbps}\n"
                ),
            )
            .unwrap();
            match Scenario::load(&bad) {
                Ok(s) => assert!(ok, "{kbps} accepted: {:?}", s.groups[0].downlink_kbps),
                Err(e) => assert!(!ok && e.contains("downlink_kbps must be within"), "{e}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
