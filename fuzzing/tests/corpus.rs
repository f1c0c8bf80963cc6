//! Replays the hand-made seeds (`fuzz/seeds/<target>/`), the committed fuzz corpus
//! (`fuzz/corpus/<target>/`, grown and minimised by `fuzz/run.sh`) and the crashes found and
//! fixed (`fuzz/regressions/<target>/`) through the entry points on stable: seconds in every
//! test run instead of the fuzzer's minutes.
#![allow(clippy::unwrap_used)]

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = 0;
    for dir in ["seeds", "corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            run(&std::fs::read(&path).unwrap());
            files += 1;
        }
    }
    assert!(files > 0, "no corpus for {target}: run fuzz/run.sh");
}

#[test]
fn ws_command() {
    replay("ws_command", plenum_fuzzing::ws_command);
}

#[test]
fn sdp_offer() {
    replay("sdp_offer", |data| {
        plenum_fuzzing::sdp_offer(data);
    });
}

/// The hand-made seeds (str0m offers of a delegate, a WHIP publisher, a WHEP viewer) get an
/// answer: the target reaches the media plane, not only the shape check.
#[test]
fn the_seed_offers_reach_the_media_plane() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/sdp_offer");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            plenum_fuzzing::sdp_offer(&std::fs::read(&path).unwrap()),
            "{} is answered",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 4);
}

#[test]
fn rfc4571() {
    replay("rfc4571", plenum_fuzzing::rfc4571);
}

#[test]
fn csv_import() {
    replay("csv_import", plenum_fuzzing::csv_import);
}

#[test]
fn ballot() {
    replay("ballot", plenum_fuzzing::ballot);
}

#[test]
fn cluster_wire() {
    replay("cluster_wire", plenum_fuzzing::cluster_wire);
}
