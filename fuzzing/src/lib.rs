//! Fuzz entry points: each takes arbitrary bytes and runs them through what the server does
//! with that kind of network input. None may panic, hang or grow without bound; each checks
//! what must hold for every input. `fuzz/` (cargo-fuzz, nightly) drives them with libFuzzer;
//! `tests/corpus.rs` replays the committed corpus on stable in every test run. Findings and
//! figures: docs/security.md.

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use plenum_sfu::shard::Shard;
use plenum_sfu::testing::Network;
use plenum_sfu::{PeerId, RoomId, RouterConfig, SlotLayout};
use plenum_signalling::offer::{self, Front};

/// The congress layout of the default configuration: one stage, eight tiles, three audio.
const SLOTS: SlotLayout = SlotLayout {
    stage: 1,
    tiles: 8,
    audio: 3,
};

/// A WebSocket frame as the server reads it (`protocol::parse_envelope`): either a command
/// with the id it carries, or a typed refusal.
pub fn ws_command(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    use plenum_signalling::ballot::{PollSpec, Tally};
    use plenum_signalling::protocol::Command;
    // The last valid poll definition: later frames vote on it, as in a room.
    static POLL: Mutex<Option<PollSpec>> = Mutex::new(None);
    let envelope = match plenum_signalling::protocol::parse_envelope(text) {
        Ok(envelope) => envelope,
        Err((_, error)) => return assert!(!error.message.is_empty(), "a refusal says why"),
    };
    // Every command has a name the authorization table knows.
    let _ = envelope.command.name();
    let mut poll = POLL.lock().unwrap_or_else(|e| e.into_inner());
    match envelope.command {
        Command::PollCreate { poll: spec } if spec.validate().is_ok() => *poll = Some(spec),
        Command::CastVote { choice, .. } => {
            if let Some(spec) = poll.as_ref()
                && spec.validate_choice(&choice).is_ok()
            {
                // Counted and judged as the room does, with the weights a congress has.
                let mut tally = Tally::new(spec);
                tally.add(3, &choice);
                tally.add(1, &choice);
                let result = tally.evaluate(spec, 150, 160);
                assert_eq!(
                    result.questions.len(),
                    spec.questions(),
                    "one result per question"
                );
            }
        }
        _ => {}
    }
}

fn shard() -> &'static Mutex<Shard> {
    static SHARD: OnceLock<Mutex<Shard>> = OnceLock::new();
    SHARD.get_or_init(|| {
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let setup = Network::setup(1, SLOTS, RouterConfig::default());
        Mutex::new(Shard::new(0, setup, events))
    })
}

/// An SDP offer from each front (WebSocket client, WHIP, WHEP) as the server takes it: our
/// shape check (`offer::check`), then — if it passes — str0m's parser and a real connection
/// of the media plane answering it (`Shard::connect`, the code `offer` and WHIP run).
/// `true` when the media plane answered.
pub fn sdp_offer(data: &[u8]) -> bool {
    // A leading byte 1 or 2 picks WHIP or WHEP (then it is not part of the SDP).
    let (front, data) = match data.split_first() {
        Some((1, rest)) => (Front::Whip, rest),
        Some((2, rest)) => (Front::Whep, rest),
        _ => (Front::Client, data),
    };
    let Ok(sdp) = std::str::from_utf8(data) else {
        return false;
    };
    if offer::check(sdp, front, true, SLOTS).is_err() {
        return false;
    }
    let mut shard = shard().lock().unwrap_or_else(|e| e.into_inner());
    // One peer id: connecting again replaces the last one, so memory stays bounded.
    match shard.connect(Instant::now(), PeerId(1), RoomId(1), sdp) {
        Ok(connected) => {
            assert!(connected.answer.starts_with("v=0"), "an answer is SDP");
            true
        }
        Err(_) => false,
    }
}

/// A TCP byte stream of ICE-TCP (RFC 4571), delivered in chunks whose sizes the input's
/// first bytes choose: the frames that come out, framed again, are exactly the bytes
/// consumed, in order.
pub fn rfc4571(data: &[u8]) {
    use plenum_sfu::tcp::{Deframer, frame};
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);
    let mut deframer = Deframer::default();
    let mut framed_again = Vec::new();
    for piece in stream.chunks(chunk) {
        deframer.push(piece);
        while let Some(f) = deframer.next_frame() {
            framed_again.extend_from_slice(&frame(&f).unwrap_or_default());
        }
    }
    assert!(
        stream.starts_with(&framed_again),
        "frames are the stream's prefix"
    );
    assert!(
        stream.len() - framed_again.len() < 2 + 65_535,
        "less than one frame is left over"
    );
}

/// A member list as the import reads it (any encoding, any separator): every row is either
/// a member or a line-numbered error, and the plan for it accounts for every member.
pub fn csv_import(data: &[u8]) {
    use plenum_directory::import;
    use plenum_signalling::org::{Unit, UnitTree};
    static UNITS: OnceLock<UnitTree> = OnceLock::new();
    let units = UNITS.get_or_init(|| {
        let unit = |id: &str, name: &str, parent: Option<&str>| Unit {
            id: id.into(),
            name: name.into(),
            parent: parent.map(Into::into),
        };
        UnitTree::new(&[
            unit("bv", "Bundesverband", None),
            unit("lv-by", "Landesverband Bayern", Some("bv")),
            unit("kv-m", "Kreisverband München", Some("lv-by")),
        ])
        .unwrap_or_else(|e| panic!("the fixed units are a tree: {e}"))
    });
    let parsed = import::parse(data, units);
    for e in &parsed.errors {
        assert!(e.line >= 1, "errors name their line");
    }
    let plan = import::plan(&parsed, &[], units, "bv");
    let (upserts, left) = plan.to_apply();
    assert!(left.is_empty(), "nobody was stored, so nobody leaves");
    assert!(upserts.len() <= parsed.rows.len());
}

/// A verifiable poll's inputs as the server and `plenum-verify` read them: a ballot
/// (`cast_ballot`), a partial decryption (`dkg_decrypt`), a whole board export. The fixed
/// context is the shared test vectors' election (a real header, committee and tally), so
/// that well-formed inputs reach every proof check. A ballot that verifies has the tracker of
/// its bytes; everything else is refused with a code.
pub fn ballot(data: &[u8]) {
    use plenum_ballot_crypto::ballot::{Ballot, verify_ballot};
    use plenum_ballot_crypto::board::{Board, BoardExport, verify_board};
    use plenum_ballot_crypto::tally::{PartialDecryption, verify_partial_decryption};
    static BOARD: OnceLock<Board> = OnceLock::new();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let board = BOARD.get_or_init(|| {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../ballot-crypto/vectors/election.json"))
                .unwrap_or_else(|e| panic!("the vectors parse: {e}"));
        let export: BoardExport = serde_json::from_value(vectors["board"].clone())
            .unwrap_or_else(|e| panic!("the vectors' board parses: {e}"));
        Board::restore(&export, 0).unwrap_or_else(|e| panic!("the vectors' board holds: {e}"))
    });
    let (Some(poll), Some(sums)) = (board.poll(), board.tally_ciphertexts()) else {
        panic!("the vectors' board is tallied");
    };
    if let Ok(ballot) = serde_json::from_str::<Ballot>(text) {
        match verify_ballot(poll, &ballot) {
            Ok(v) => assert_eq!(v.tracker, ballot.tracker(), "the tracker is the bytes'"),
            Err(e) => assert!(!e.code().is_empty()),
        }
    }
    if let Ok(pd) = serde_json::from_str::<PartialDecryption>(text) {
        let _ = verify_partial_decryption(poll, sums, &pd);
    }
    if let Ok(export) = BoardExport::from_json(text)
        && let Ok(summary) = verify_board(&export)
    {
        assert_eq!(summary.entries, export.entries.len());
    }
}

/// What an edge reads from its origin and an origin from its edges (docs/cluster.md): a
/// datagram as a relayed packet, and the control stream's bytes as length-prefixed frames.
/// A packet that decodes encodes to the same bytes; a control frame that decodes encodes to
/// a frame that decodes to the same message.
pub fn cluster_wire(data: &[u8]) {
    use plenum_cluster::{Control, RelayPacket};
    if let Ok(packet) = RelayPacket::decode(bytes::Bytes::copy_from_slice(data)) {
        let mut again = Vec::with_capacity(data.len());
        packet.encode(&mut again);
        assert_eq!(again, data, "a decoded packet encodes to its bytes");
    }
    let mut rest = data;
    while let Ok(Some((control, used))) = Control::decode_frame(rest) {
        assert!(
            used > 0 && used <= rest.len(),
            "a frame consumes what it read"
        );
        if let Ok(frame) = control.encode_frame() {
            let back = Control::decode_frame(&frame).ok().flatten().map(|(c, _)| c);
            assert_eq!(
                back,
                Some(control),
                "a control message survives a round trip"
            );
        }
        rest = &rest[used..];
    }
}
