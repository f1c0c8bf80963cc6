//! plenum-verify on the shared vectors' election board: exit 0 with the counts; a changed board
//! exits 1 naming the first failing entry.

use std::process::Command;

fn board() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ballot-crypto/vectors/election.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("json");
    v["board"].clone()
}

fn run(board: &serde_json::Value, name: &str, extra: &[&str]) -> (bool, String, String) {
    let path =
        std::env::temp_dir().join(format!("plenum-verify-{}-{name}.json", std::process::id()));
    std::fs::write(&path, board.to_string()).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_plenum-verify"))
        .arg(&path)
        .args(extra)
        .output()
        .expect("runs");
    let _ = std::fs::remove_file(&path);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_board_passes_with_its_counts() {
    let (ok, out, err) = run(&board(), "ok", &[]);
    assert!(ok, "{err}");
    assert!(out.contains("OK"), "{out}");
    assert!(out.contains("poll-7"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("yes") && l.trim_end().ends_with(" 5")),
        "{out}"
    );
    let (ok, out, _) = run(&board(), "json", &["--json", "--require-result"]);
    assert!(ok);
    let summary: serde_json::Value = serde_json::from_str(&out).expect("json summary");
    assert_eq!(summary["result"]["counts"][1][2], 4);
}

#[test]
fn a_changed_board_fails_naming_the_entry() {
    let mut b = board();
    b["entries"][6]["entry"]["questions"][1]["sum_proof"][0]["z"] =
        serde_json::json!("00".repeat(32));
    let (ok, _, err) = run(&b, "bad", &[]);
    assert!(!ok);
    assert!(err.contains("entry 6 (ballot)"), "{err}");
    let mut b = board();
    let n = b["entries"].as_array().expect("entries").len();
    b["entries"]
        .as_array_mut()
        .expect("entries")
        .truncate(n - 1);
    let (ok, _, err) = run(&b, "open", &["--require-result"]);
    assert!(!ok);
    assert!(err.contains("no result"), "{err}");
    let (ok, _, err) = run(&serde_json::json!({"format": "x"}), "garbage", &[]);
    assert!(!ok);
    assert!(err.contains("parsing"), "{err}");
}
