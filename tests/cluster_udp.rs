//! The congress cascaded to edge nodes over QUIC, on loopback with real processes (issue
//! 18): one origin and two edges with certificates of one cluster CA; a publisher on the
//! origin; WHEP viewers placed by the origin on both edges decode the stage and hear the
//! audio; an edge with a certificate of another CA is refused; killing an edge (SIGKILL)
//! sends its viewers — asking the origin again — to the other within 5 s; a restarted origin
//! is found again by the edges without anyone's help.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TestServer;
use plenum_loadtest::server::https_request;
use plenum_loadtest::synth::Talk;
use plenum_loadtest::whip::{HttpSession, whep_view};
use plenum_loadtest::{Participant, ParticipantConfig};

/// The tests of this file start three or four servers each: one at a time, so that timing
/// figures are not those of a machine running twelve.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A free UDP port on loopback for the origin's cluster endpoint (it must stay the same
/// across a restart of the origin).
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A cluster CA and a certificate per node, as files.
fn certificates(dir: &Path, nodes: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let ca = plenum_cluster::generate_ca().unwrap();
    for node in nodes {
        let tls = plenum_cluster::issue_node_cert(&ca, node).unwrap();
        tls.write_files(
            &dir.join(format!("{node}-ca.pem")),
            &dir.join(format!("{node}.pem")),
            &dir.join(format!("{node}.key")),
        )
        .unwrap();
    }
}

fn tls_env(dir: &Path, node: &str) -> Vec<(String, String)> {
    let path = |f: String| dir.join(f).to_string_lossy().into_owned();
    vec![
        ("PLENUM_CLUSTER__NODE".into(), node.into()),
        ("PLENUM_CLUSTER__CA".into(), path(format!("{node}-ca.pem"))),
        ("PLENUM_CLUSTER__CERT".into(), path(format!("{node}.pem"))),
        ("PLENUM_CLUSTER__KEY".into(), path(format!("{node}.key"))),
    ]
}

fn start(env: Vec<(String, String)>) -> TestServer {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start_with_env(&env)
}

fn origin_env(dir: &Path, port: u16) -> Vec<(String, String)> {
    let mut env = tls_env(dir, "origin");
    env.push(("PLENUM_CLUSTER__ROLE".into(), "origin".into()));
    env.push(("PLENUM_CLUSTER__LISTEN".into(), format!("127.0.0.1:{port}")));
    env
}

fn edge_env(dir: &Path, node: &str, port: u16, token_key: &Path) -> Vec<(String, String)> {
    let mut env = tls_env(dir, node);
    env.push(("PLENUM_CLUSTER__ROLE".into(), "edge".into()));
    env.push(("PLENUM_CLUSTER__ORIGIN".into(), format!("127.0.0.1:{port}")));
    env.push(("PLENUM_CLUSTER__ORIGIN_NAME".into(), "origin".into()));
    env.push((
        "PLENUM_CLUSTER__TOKEN_KEY".into(),
        token_key.to_string_lossy().into_owned(),
    ));
    env
}

/// Where the origin places a viewer with `token`: (node, edge base URL).
async fn placement(origin: &TestServer, token: &str) -> (String, String) {
    let auth = format!("Bearer {token}");
    let resp = https_request(
        &origin.url,
        &origin.ca_pem(),
        "GET",
        "/api/cluster/placement/demo",
        &[("Authorization", &auth)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    let whep = v["whep"].as_str().unwrap();
    let base = whep.strip_suffix("/whep/demo").unwrap().to_owned();
    (v["node"].as_str().unwrap().to_owned(), base)
}

/// Ask the origin until it places viewers on edges (both edges connected and reporting).
async fn wait_for_edges(origin: &TestServer, token: &str, edges: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (node, _) = placement(origin, token).await;
        if edges.contains(&node.as_str()) {
            return;
        }
        assert!(Instant::now() < deadline, "no edge connected to the origin");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A WHEP viewer at an edge (`edge`'s URL and certificate).
async fn watch(edge: &TestServer, token: &str, seed: u64) -> HttpSession {
    let config = edge.participant_with(token, seed);
    let mut session = whep_view(&config, "demo").await.unwrap();
    assert!(session.media.wait_connected(Duration::from_secs(10)).await);
    session
}

/// Wait until a viewer's stage has `packets` more packets than `from`; how long it took.
async fn stage_grows(viewer: &HttpSession, from: u64, packets: u64, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let now = viewer.media.slot_stats("stage").map_or(0, |s| s.packets);
        if now >= from + packets {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the stage did not grow: {now} packets"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn publisher(origin: &TestServer) -> Participant {
    let mut camera: ParticipantConfig = origin.participant_with(&origin.token(0), 1);
    camera.talk = Talk::Always;
    camera.pin_stage = true;
    let mut p = Participant::join(camera).await.unwrap();
    assert!(p.wait_connected(Duration::from_secs(10)).await);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_reaches_viewers_on_two_edges_and_survives_an_edge_and_an_origin_failing() {
    let _serial = SERIAL.lock().await;
    let dir: PathBuf = std::env::temp_dir().join(format!("plenum-cluster-{}", std::process::id()));
    certificates(&dir, &["origin", "edge-a", "edge-b"]);
    certificates(&dir.join("other"), &["edge-x"]);
    let port = free_udp_port();
    let mut origin = start(origin_env(&dir, port));
    let token_key = origin.data_dir.join("token.key");
    let mut edge_a = start(edge_env(&dir, "edge-a", port, &token_key));
    let edge_b = start(edge_env(&dir, "edge-b", port, &token_key));
    // An edge whose certificate another CA signed never gets in.
    let stranger = start(edge_env(&dir.join("other"), "edge-x", port, &token_key));

    let viewers: Vec<String> = (0..4)
        .map(|i| origin.invite(&format!("Mitglied {i}"), "observer", &[]))
        .collect();
    wait_for_edges(&origin, &viewers[0], &["edge-a", "edge-b"]).await;
    let camera = publisher(&origin).await;

    // Two viewers per edge, each decodes the stage and hears the floor.
    let mut sessions = Vec::new();
    for (i, token) in viewers.iter().enumerate() {
        let edge = if i % 2 == 0 { &edge_a } else { &edge_b };
        sessions.push(watch(edge, token, 10 + i as u64).await);
    }
    for s in &sessions {
        stage_grows(s, 0, 60, Duration::from_secs(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for s in &sessions {
        let stage = s.media.slot_stats("stage").unwrap();
        assert_eq!(stage.first_is_keyframe, Some(true));
        assert!(stage.widest_keyframe.is_some(), "a decodable keyframe");
        let audio = s.media.slot_stats("audio-0").unwrap();
        assert!(audio.packets > 50, "the floor is heard: {audio:?}");
    }
    // The stranger edge is not among the places.
    for token in &viewers {
        let (node, _) = placement(&origin, token).await;
        assert_ne!(node, "edge-x");
    }
    drop(stranger);

    // Edge A dies: its viewers ask the origin again and watch at edge B within 5 s.
    let orphans: Vec<usize> = (0..sessions.len()).filter(|i| i % 2 == 0).collect();
    let killed_at = Instant::now();
    edge_a.kill();
    let mut recovered = Vec::new();
    for &i in &orphans {
        let (node, base) = loop {
            let placed = placement(&origin, &viewers[i]).await;
            if placed.0 == "edge-b" {
                break placed;
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(5),
                "still placed on {placed:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(node, "edge-b");
        assert_eq!(base, edge_b.url);
        let s = watch(&edge_b, &viewers[i], 30 + i as u64).await;
        stage_grows(&s, 0, 10, Duration::from_secs(5)).await;
        recovered.push(s);
    }
    let recovery = killed_at.elapsed();
    assert!(
        recovery < Duration::from_secs(5),
        "recovered after {recovery:?}"
    );
    eprintln!("viewers of the killed edge watch again after {recovery:?}");

    // The origin restarts (SIGKILL): the edges find it again by themselves, the camera
    // comes back, and the viewers at edge B see the stage again.
    camera.stop().await;
    origin.restart();
    let restarted_at = Instant::now();
    let camera = publisher(&origin).await;
    let before = recovered[0].media.slot_stats("stage").unwrap().packets;
    let back = stage_grows(&recovered[0], before, 30, Duration::from_secs(15)).await;
    eprintln!(
        "after the origin's restart the stage is back at the edge {:?} after the camera rejoined ({:?} after the restart)",
        back,
        restarted_at.elapsed()
    );
    camera.stop().await;
    for s in sessions.into_iter().chain(recovered) {
        s.media.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Audio packets a viewer has heard so far.
fn heard(viewer: &HttpSession) -> u64 {
    viewer.media.slot_stats("audio-0").map_or(0, |s| s.packets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floor_control_on_the_origin_holds_at_the_edge() {
    let _serial = SERIAL.lock().await;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("plenum-cluster-floor-{}", std::process::id()));
    certificates(&dir, &["origin", "edge-a"]);
    let port = free_udp_port();
    let origin = start(origin_env(&dir, port));
    let token_key = origin.data_dir.join("token.key");
    let edge = start(edge_env(&dir, "edge-a", port, &token_key));
    let viewer_token = origin.invite("Mitglied", "observer", &[]);
    wait_for_edges(&origin, &viewer_token, &["edge-a"]).await;

    // A delegate with camera and an open microphone; in congress mode it is heard only with
    // the floor. The moderator puts them on stage.
    let (moderator, _) = common::join(&origin, &origin.token(0)).await;
    let mut speaker_config = origin.participant_with(&origin.token(1), 2);
    speaker_config.talk = Talk::Always;
    let mut speaker = Participant::join(speaker_config).await.unwrap();
    assert!(speaker.wait_connected(Duration::from_secs(10)).await);
    let speaker_id = speaker.joined["participant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    moderator
        .request(
            "set_stage",
            serde_json::json!({ "participant_id": speaker_id }),
        )
        .await
        .unwrap();

    // An edge takes viewers, not participants: no WebSocket there.
    let ws =
        plenum_loadtest::SignalClient::connect(&edge.url, &edge.url, Some(&edge.ca_pem())).await;
    let refused = ws.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        refused.contains("404"),
        "the WebSocket at an edge: {refused:?}"
    );
    // The origin's pages may call the edge's WHEP (CORS there, CSP here).
    let preflight = https_request(
        &edge.url,
        &edge.ca_pem(),
        "OPTIONS",
        "/whep/demo",
        &[("Origin", &origin.url)],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(origin.url.as_str())
    );
    let page = https_request(&origin.url, &origin.ca_pem(), "GET", "/", &[], b"")
        .await
        .unwrap();
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains(&format!("connect-src 'self' {}", edge.url)),
        "{csp}"
    );
    let viewer = watch(&edge, &viewer_token, 5).await;
    stage_grows(&viewer, 0, 60, Duration::from_secs(10)).await;
    assert_eq!(
        heard(&viewer),
        0,
        "no floor: the edge's viewer hears nothing"
    );

    // The floor: heard at the edge within a few packet intervals.
    let given = Instant::now();
    moderator
        .request(
            "queue_give_floor",
            serde_json::json!({ "participant_id": speaker_id }),
        )
        .await
        .unwrap();
    while heard(&viewer) == 0 {
        assert!(
            given.elapsed() < Duration::from_secs(3),
            "the floor is not heard"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let heard_after = given.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(heard(&viewer) > 10);

    // The floor ends: silence at the edge at once (what was in flight aside).
    moderator
        .request("queue_end_floor", serde_json::json!({}))
        .await
        .unwrap();
    let ended = Instant::now();
    let mut last = heard(&viewer);
    let mut last_change = ended;
    while ended.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = heard(&viewer);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    let silent_after = last_change.duration_since(ended);
    eprintln!(
        "floor at the edge: heard {heard_after:?} after the floor was given, silent {silent_after:?} after it ended"
    );
    assert!(
        silent_after < Duration::from_millis(100),
        "audio went on for {silent_after:?} after the floor ended"
    );
    speaker.stop().await;
    viewer.media.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A UDP relay between an edge and the origin that passes the origin's datagrams at no more
/// than `bps` (a token bucket of 50 ms; the rest is dropped, as a slow access link would),
/// and the edge's unchanged. Returns the address the edge should dial.
async fn slow_link(origin: std::net::SocketAddr, bps: u64) -> std::net::SocketAddr {
    use std::sync::{Arc, Mutex};
    use tokio::net::UdpSocket;
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = front.local_addr().unwrap();
    let edge: Arc<Mutex<Option<std::net::SocketAddr>>> = Arc::default();
    let (f, b, e) = (front.clone(), back.clone(), edge.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = f.recv_from(&mut buf).await {
            *e.lock().unwrap() = Some(from);
            let _ = b.send_to(&buf[..n], origin).await;
        }
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        let bucket = bps as f64 * 0.05;
        let mut tokens = bucket;
        let mut last = Instant::now();
        while let Ok((n, _)) = back.recv_from(&mut buf).await {
            let now = Instant::now();
            tokens = (tokens + now.duration_since(last).as_secs_f64() * bps as f64).min(bucket);
            last = now;
            let bits = (n * 8) as f64;
            let to = *edge.lock().unwrap();
            if tokens >= bits
                && let Some(to) = to
            {
                tokens -= bits;
                let _ = front.send_to(&buf[..n], to).await;
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_edge_link_costs_that_edge_a_layer_and_nobody_else_anything() {
    let _serial = SERIAL.lock().await;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("plenum-cluster-slow-{}", std::process::id()));
    certificates(&dir, &["origin", "edge-a", "edge-b"]);
    let port = free_udp_port();
    let origin = start(origin_env(&dir, port));
    let token_key = origin.data_dir.join("token.key");
    // edge-a reaches the origin through 900 kbit/s: the quarter and half layers and audio fit,
    // the full layer (1.5 Mbit/s) does not.
    let origin_addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let slow = slow_link(origin_addr, 900_000).await;
    let mut env_a = edge_env(&dir, "edge-a", port, &token_key);
    for (k, v) in &mut env_a {
        if k == "PLENUM_CLUSTER__ORIGIN" {
            *v = slow.to_string();
        }
    }
    let edge_a = start(env_a);
    let edge_b = start(edge_env(&dir, "edge-b", port, &token_key));
    let tokens: Vec<String> = (0..2)
        .map(|i| origin.invite(&format!("Mitglied {i}"), "observer", &[]))
        .collect();
    wait_for_edges(&origin, &tokens[0], &["edge-a", "edge-b"]).await;
    let camera = publisher(&origin).await;
    let slow_viewer = watch(&edge_a, &tokens[0], 40).await;
    let fast_viewer = watch(&edge_b, &tokens[1], 41).await;
    let fast_joined = Instant::now();

    // The slow edge's viewer ends up on a lower layer; the other keeps the full one.
    let started = Instant::now();
    loop {
        let width = slow_viewer
            .media
            .slot_stats("stage")
            .and_then(|s| s.last_keyframe_width);
        if width.is_some_and(|w| w < 1280) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the slow edge's viewer still gets {width:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lowered = started.elapsed();
    // Meanwhile the other edge's viewer has the full layer, without loss. It is judged once
    // its own estimator has settled: the router ignores a new subscriber's estimate for 3 s
    // and then follows it, and on a starved machine (a debug build beside other tests) the
    // estimator's first seconds can dip below the full layer, which is its own link's
    // business, not the cascade's.
    // A dip of that estimator later (a scheduling stall of this debug build) is measured once
    // more, as tests/pacing_udp.rs does: twice in a row is a failure. A viewer held back by the
    // slow edge's link would never hold the full layer at all.
    tokio::time::sleep(
        (fast_joined + Duration::from_secs(8)).saturating_duration_since(Instant::now()),
    )
    .await;
    let mut attempt = 1;
    let (before, fast) = loop {
        let reached = Instant::now();
        loop {
            let fast = fast_viewer.media.slot_stats("stage").unwrap_or_default();
            if fast.last_keyframe_width == Some(1280) {
                break;
            }
            assert!(
                reached.elapsed() < Duration::from_secs(20),
                "the other edge's viewer gets {:?} (attempt {attempt})",
                fast.last_keyframe_width
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let before = fast_viewer.media.slot_stats("stage").unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let fast = fast_viewer.media.slot_stats("stage").unwrap();
        if fast.last_keyframe_width == Some(1280) || attempt == 2 {
            break (before, fast);
        }
        eprintln!(
            "the other edge's viewer dipped to {:?} px; measuring once more",
            fast.last_keyframe_width
        );
        attempt += 1;
    };
    assert_eq!(
        fast.last_keyframe_width,
        Some(1280),
        "the other edge keeps the full layer"
    );
    assert!(fast.packets > before.packets + 100, "and keeps receiving");
    assert!(
        fast.lost() * 100 <= fast.packets,
        "with at most 1 % loss: {fast:?}"
    );
    let slow = slow_viewer.media.slot_stats("stage").unwrap();
    eprintln!(
        "slow edge link: its viewer on a {:?} px layer after {lowered:?}; the other edge's viewer at {:?} px, {} of {} packets lost",
        slow.last_keyframe_width,
        fast.last_keyframe_width,
        fast.lost(),
        fast.packets
    );
    camera.stop().await;
    slow_viewer.media.stop().await;
    fast_viewer.media.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
