//! `deploy/nftables-plenum-media.nft`, loaded into a network namespace of the test's own (the
//! host's rules are never touched): datagrams to the media port, from another namespace or
//! from the host itself, pass without connection tracking; datagrams to any other port are
//! still tracked. Needs root (`unshare --net`) and
//! `nft` (scripts/install-deps.sh installs nftables).
#![allow(clippy::unwrap_used)]

use std::process::Command;

/// Loads the deploy file twice (it must replace itself) and a probe table that counts what
/// arrives by interface, port and conntrack state (a `ct` rule turns tracking on in the
/// namespace); then sends three datagrams to the media port and three to the next port from a
/// second namespace behind a veth pair (clients elsewhere: the prerouting rule), and as many
/// from this namespace itself over loopback (a client on the host, e.g. a TURN relay: the
/// output rule). Each datagram comes from a new socket, a new flow. Prints the counters.
const SCRIPT: &str = r#"
set -eu
peer=plenum-nft-test-$$
ip netns add "$peer"
trap 'ip netns del "$peer"' EXIT
ip link set lo up
ip link add veth-m type veth peer name veth-c netns "$peer"
ip addr add 10.9.0.1/30 dev veth-m
ip link set veth-m up
ip -n "$peer" addr add 10.9.0.2/30 dev veth-c
ip -n "$peer" link set veth-c up
mac=$(ip -o link show veth-m | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p')
ip -n "$peer" neigh add 10.9.0.1 lladdr "$mac" dev veth-c
nft -f deploy/nftables-plenum-media.nft
nft -f deploy/nftables-plenum-media.nft
nft -f - <<'NFT'
table inet probe {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "veth-m" udp dport 50000 ct state untracked counter
		iifname "veth-m" udp dport 50000 ct state new counter
		iifname "veth-m" udp dport 50001 ct state untracked counter
		iifname "veth-m" udp dport 50001 ct state new counter
		iifname "lo" udp dport 50000 ct state untracked counter
		iifname "lo" udp dport 50000 ct state new counter
		iifname "lo" udp dport 50001 ct state untracked counter
		iifname "lo" udp dport 50001 ct state new counter
	}
}
NFT
for port in 50000 50001; do
	for i in 1 2 3; do
		ip netns exec "$peer" bash -c "printf x > /dev/udp/10.9.0.1/$port"
		printf x > /dev/udp/127.0.0.1/$port
	done
done
nft list chain inet probe input
"#;

/// The packets a probe rule counted.
fn counted(listing: &str, iface: &str, port: u16, state: &str) -> u64 {
    let rule = format!("iifname \"{iface}\" udp dport {port} ct state {state} counter packets ");
    let line = listing
        .lines()
        .find(|l| l.trim().starts_with(&rule))
        .unwrap_or_else(|| panic!("no counter for {iface}/{port}/{state} in:\n{listing}"));
    let rest = &line.trim()[rule.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn the_media_port_passes_untracked_and_other_ports_stay_tracked() {
    let out = Command::new("unshare")
        .args(["--net", "bash", "-c", SCRIPT])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("unshare (util-linux) runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the ruleset loads in a private namespace: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for iface in ["veth-m", "lo"] {
        assert_eq!(counted(&stdout, iface, 50000, "untracked"), 3, "{iface}");
        assert_eq!(counted(&stdout, iface, 50000, "new"), 0, "{iface}");
        assert_eq!(counted(&stdout, iface, 50001, "untracked"), 0, "{iface}");
        assert_eq!(counted(&stdout, iface, 50001, "new"), 3, "{iface}");
    }
}
