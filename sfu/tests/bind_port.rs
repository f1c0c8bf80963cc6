//! The media plane on an OS-chosen port (`127.0.0.1:0`, as every test server binds it) with
//! ICE-TCP: the UDP port the OS picks may be taken for TCP, and the media plane must then take
//! another port instead of failing to start.
//!
//! The test runs itself again in a network namespace of its own (`unshare --net`, needs root)
//! whose ephemeral port range holds two ports, 40000 and 40001, with a TCP listener on 40000:
//! whichever of the two the OS offers for UDP first, the media plane must end up on 40001 for
//! both. Without the retry, half the starts fail; the test starts eight times.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use plenum_sfu::router::RouterConfig;
use plenum_sfu::{MediaConfig, SlotLayout};

const INSIDE: &str = "PLENUM_BIND_PORT_TEST_INSIDE";
const TEST: &str = "a_udp_port_taken_for_tcp_is_passed_over";

#[test]
fn a_udp_port_taken_for_tcp_is_passed_over() {
    if std::env::var_os(INSIDE).is_some() {
        inside_the_namespace();
        return;
    }
    let out = Command::new("unshare")
        .arg("--net")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("unshare (util-linux) runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the test passes in its namespace:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The inner run ran the test (and did not filter it away).
    assert!(stdout.contains("1 passed"), "{stdout}");
}

fn inside_the_namespace() {
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .unwrap();
    assert!(up.success(), "loopback comes up in the namespace");
    std::fs::write("/proc/sys/net/ipv4/ip_local_port_range", "40000 40001").unwrap();
    let _taken = std::net::TcpListener::bind("127.0.0.1:40000").unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for _ in 0..8 {
            let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
            let (handle, task) = plenum_sfu::spawn(config(), events)
                .await
                .expect("the media plane starts");
            let port: SocketAddr = "127.0.0.1:40001".parse().unwrap();
            assert_eq!(handle.local_addr(), port);
            assert_eq!(handle.tcp_addr(), Some(port));
            drop(handle);
            task.stop().await;
            // Nothing of this start is left bound for the next.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A configured port that is taken for TCP is an error, not another port.
        let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
        let taken = MediaConfig {
            bind: "127.0.0.1:40000".parse().unwrap(),
            ..config()
        };
        let err = plenum_sfu::spawn(taken, events).await.unwrap_err();
        assert!(
            matches!(err, plenum_sfu::SfuError::Bind { .. }),
            "a typed bind error: {err}"
        );
    });
}

fn config() -> MediaConfig {
    MediaConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_addresses: Vec::new(),
        workers: 2,
        ice_tcp: true,
        bandwidth_estimation: true,
        udp_offload: false,
        flush_coalesce: Duration::ZERO,
        start_estimate: 1_000_000,
        slots: SlotLayout {
            stage: 1,
            tiles: 2,
            audio: 2,
        },
        router: RouterConfig::default(),
        relay_sink: None,
    }
}
