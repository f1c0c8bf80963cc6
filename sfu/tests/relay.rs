//! Cascade in memory: an origin's relay (a subscriber without a connection) gets the stage
//! from the origin's router, rewritten to one continuous stream that starts on a keyframe;
//! injected into an edge as a mirror publisher's layer, it reaches the edge's viewer (rewritten
//! again, from a keyframe); the edge's keyframe request goes to the sink and, passed back to
//! the origin, reaches the publisher.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use plenum_sfu::SlotLayout;
use plenum_sfu::relay::{InjectedPacket, RelaySink, RelayedPacket};
use plenum_sfu::rewrite::PacketIds;
use plenum_sfu::router::{Kind, PeerId, RoomId, RouterConfig};
use plenum_sfu::testing::Network;

const ROOM: RoomId = RoomId(7);
const RELAY: PeerId = PeerId(900);
const MIRROR: PeerId = PeerId(500);

#[derive(Debug, Default)]
struct Recorder {
    packets: Mutex<Vec<InjectedPacket>>,
    keyframes: Mutex<Vec<(PeerId, u8)>>,
}

impl RelaySink for Recorder {
    fn packet(&self, relay: PeerId, slot: usize, p: &RelayedPacket<'_>) {
        assert_eq!((relay, slot), (RELAY, 0), "only the relay's stage slot");
        self.packets.lock().unwrap().push(InjectedPacket {
            mirror: MIRROR,
            kind: p.kind,
            layer: 0,
            ids: PacketIds {
                seq: p.ids.seq,
                timestamp: p.ids.timestamp,
                picture_id: p.ids.picture_id,
                tl0_pic_idx: p.ids.tl0_pic_idx,
            },
            keyframe: p.keyframe,
            marker: p.marker,
            audio_level: p.audio_level,
            payload: Arc::from(p.payload),
        });
    }

    fn keyframe_request(&self, mirror: PeerId, layer: u8) {
        self.keyframes.lock().unwrap().push((mirror, layer));
    }
}

fn network(layout: SlotLayout, sink: &Arc<Recorder>) -> Network {
    let mut setup = Network::setup(1, layout, RouterConfig::default());
    setup.relay_sink = Some(sink.clone());
    Network::with_setup(setup)
}

#[test]
fn the_stage_crosses_a_relay_and_a_mirror_from_keyframes_and_keyframe_requests_go_back() {
    let viewer_layout = SlotLayout {
        stage: 1,
        tiles: 0,
        audio: 1,
    };
    let origin_sink = Arc::new(Recorder::default());
    let mut origin = network(viewer_layout, &origin_sink);
    let publisher = origin.join(1, ROOM, 0, true);
    assert!(origin.connect_all(2000));
    let stage_only = SlotLayout {
        stage: 1,
        tiles: 0,
        audio: 0,
    };
    let now = origin.now;
    origin.shards[0].add_relay(now, RELAY, ROOM, stage_only, &[]);

    let edge_sink = Arc::new(Recorder::default());
    let mut edge = network(viewer_layout, &edge_sink);
    let now = edge.now;
    edge.shards[0].add_mirror(now, MIRROR, ROOM, &[Kind::Video]);
    edge.shards[0].set_stage_pin(now, ROOM, Some(MIRROR));
    let viewer = edge.join(2, ROOM, 0, false);
    assert!(edge.connect_all(2000));

    // Frames from the publisher; no keyframe until asked (after the first).
    for frame in 0..60 {
        let asked = origin.clients[publisher].keyframe_requests > 0;
        origin.clients[publisher].keyframe_requests = 0;
        origin.send_frame(publisher, frame == 0 || asked, 3);
        origin.advance(Duration::from_millis(33));
        let relayed: Vec<InjectedPacket> =
            std::mem::take(&mut *origin_sink.packets.lock().unwrap());
        let now = edge.now;
        for p in relayed {
            edge.shards[0].inject(now, p);
        }
        edge.advance(Duration::from_millis(33));
        // The edge's keyframe requests travel back to the origin's relay.
        let asked: Vec<(PeerId, u8)> = std::mem::take(&mut *edge_sink.keyframes.lock().unwrap());
        // Only layer 0 is relayed here (the router may also ask for a layer it has not
        // seen yet, which no relay carries).
        for (mirror, layer) in asked {
            assert_eq!(mirror, MIRROR);
            if layer == 0 {
                let now = origin.now;
                origin.shards[0].relay_keyframe_request(now, RELAY, 0);
            }
        }
    }
    let got = edge.clients[viewer]
        .received
        .values()
        .next()
        .copied()
        .expect("the viewer's stage carries video");
    // The edge's stage first waits for the top layer, which never comes (only layer 0 is
    // relayed here), then asks for a keyframe of layer 0 — through the relay — and forwards
    // from it; the viewer's pacer (its estimate still starting) sets the pace.
    assert!(got.packets >= 30, "{got:?}");
    assert_eq!(got.first_was_keyframe, Some(true));

    // The edge asks again (a lost keyframe): the publisher is asked, through the relay.
    let now = origin.now;
    origin.clients[publisher].keyframe_requests = 0;
    origin.advance(Duration::from_millis(600));
    origin.shards[0].relay_keyframe_request(now, RELAY, 0);
    origin.advance(Duration::from_millis(50));
    assert!(origin.clients[publisher].keyframe_requests > 0);

    // A relay that leaves gets nothing more.
    let now = origin.now;
    origin.shards[0].remove_relay(now, RELAY);
    origin.send_frame(publisher, true, 3);
    origin.advance(Duration::from_millis(33));
    assert!(origin_sink.packets.lock().unwrap().is_empty());
}
