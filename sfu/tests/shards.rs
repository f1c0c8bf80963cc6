//! Sharding: peers on different shards see and hear each other through the room's home
//! shard; datagrams that land on the wrong shard's socket reach their owner; keyframe
//! requests cross shards; a peer that leaves is gone everywhere.

use std::time::Duration;

use plenum_sfu::router::{RoomId, RouterConfig};
use plenum_sfu::shard::{ShardMessage, home_of};
use plenum_sfu::testing::Network;
use plenum_sfu::{SfuEvent, SlotLayout};

const LAYOUT: SlotLayout = SlotLayout {
    stage: 1,
    tiles: 2,
    audio: 2,
};

/// Room 2 is routed by shard 0 of two.
const ROOM: RoomId = RoomId(2);

/// A publisher on shard 1, subscribers on both shards; frames until every stage is open.
fn congress() -> (Network, usize, Vec<usize>) {
    let mut net = Network::new(2, LAYOUT, RouterConfig::default());
    assert_eq!(home_of(ROOM, 2), 0);
    let publisher = net.join(1, ROOM, 1, true);
    let subscribers: Vec<usize> = (0..4)
        .map(|i| net.join(10 + i, ROOM, i as usize % 2, false))
        .collect();
    assert!(
        net.connect_all(2000),
        "everyone connects: {:?}",
        net.clients
    );
    // Some clients' datagrams land on a shard that does not own them.
    assert!(
        net.clients.iter().any(|c| net.socket_of(c.addr) != c.owner),
        "the test covers datagrams passed on between shards"
    );
    for frame in 0..60 {
        let keyframe = frame % 10 == 0 || net.clients[publisher].keyframe_requests > 0;
        net.clients[publisher].keyframe_requests = 0;
        net.send_frame(publisher, keyframe, 3);
        net.advance(Duration::from_millis(33));
    }
    (net, publisher, subscribers)
}

#[test]
fn subscribers_on_every_shard_get_the_publisher_on_stage_from_a_keyframe() {
    let (net, _, subscribers) = congress();
    for &s in &subscribers {
        let c = &net.clients[s];
        let stage = c
            .rtc
            .media(c.received.keys().copied().next().expect("media arrived"));
        assert!(stage.is_some());
        assert_eq!(
            c.received.len(),
            1,
            "only the stage slot carries video: {c:?}"
        );
        let got = c.received.values().next().copied().unwrap_or_default();
        assert!(
            got.packets >= 60,
            "subscriber on shard {} got {got:?}",
            c.owner
        );
        assert_eq!(
            got.first_was_keyframe,
            Some(true),
            "the slot starts on a keyframe"
        );
    }
    assert!(net.messages_delivered > 0, "the shards talked");
}

#[test]
fn keyframe_requests_reach_a_publisher_on_another_shard() {
    let mut net = Network::new(2, LAYOUT, RouterConfig::default());
    let publisher = net.join(1, ROOM, 1, true);
    net.join(10, ROOM, 0, false);
    assert!(net.connect_all(2000));
    // Delta frames only: the subscriber's stage waits for a keyframe and the home asks.
    for _ in 0..30 {
        net.send_frame(publisher, false, 2);
        net.advance(Duration::from_millis(33));
    }
    assert!(
        net.clients[publisher].keyframe_requests > 0,
        "the home shard's request reached the publisher's owner"
    );
    assert_eq!(
        net.clients[1].packets_received(),
        0,
        "nothing before a keyframe"
    );
    net.send_frame(publisher, true, 2);
    // The subscriber's estimate is low after a second without media: its pacer may hold the
    // second packet until the first one's debt has drained (tens of ms).
    net.advance(Duration::from_millis(100));
    assert!(net.clients[1].packets_received() >= 2);
}

#[test]
fn a_subscriber_that_leaves_gets_nothing_more_and_the_others_go_on() {
    let (mut net, publisher, subscribers) = congress();
    let leaver = subscribers[1];
    let peer = net.clients[leaver].peer;
    let owner = net.clients[leaver].owner;
    assert_ne!(
        owner,
        home_of(ROOM, 2),
        "the leaver is not on the home shard"
    );
    let now = net.now;
    net.shards[owner].disconnect(now, peer);
    let before: Vec<u64> = net.clients.iter().map(|c| c.packets_received()).collect();
    for frame in 0..10 {
        net.send_frame(publisher, frame == 0, 3);
        net.advance(Duration::from_millis(33));
    }
    assert_eq!(net.clients[leaver].packets_received(), before[leaver]);
    for &s in subscribers.iter().filter(|&&s| s != leaver) {
        assert!(net.clients[s].packets_received() > before[s]);
    }
    // Shard 1 owned the publisher and two subscribers.
    assert_eq!(net.shards[owner].peer_count(), 2);
}

#[test]
fn slot_changes_are_reported_with_the_subscribers_mids() {
    let (mut net, publisher, subscribers) = congress();
    let publisher = net.clients[publisher].peer;
    let mut stage_for = Vec::new();
    while let Ok(e) = net.events.try_recv() {
        if let SfuEvent::SlotChanged {
            subscriber,
            mid,
            source: Some(source),
            ..
        } = e
        {
            assert_eq!(source, publisher);
            stage_for.push((subscriber, mid));
        }
    }
    for &s in &subscribers {
        let c = &net.clients[s];
        assert!(
            stage_for.iter().any(
                |(sub, mid)| *sub == c.peer && c.received.keys().any(|m| m.to_string() == *mid)
            ),
            "{:?} was told which slot shows the publisher: {stage_for:?}",
            c.peer
        );
    }
}

#[test]
fn every_subscriber_has_a_probing_bandwidth_estimate_at_its_owner() {
    let (net, _, subscribers) = congress();
    for &s in &subscribers {
        let c = &net.clients[s];
        let estimate = net.shards[c.owner].bandwidth_estimate(c.peer);
        assert!(
            estimate.is_some_and(|bps| bps >= 100_000),
            "{:?} on shard {}: {estimate:?}",
            c.peer,
            c.owner
        );
    }
}

#[test]
fn garbage_datagrams_and_forged_usernames_change_nothing() {
    use rand::{Rng, SeedableRng};
    use str0m::net::Protocol;
    let (mut net, publisher, subscribers) = congress();
    let before: Vec<u64> = net.clients.iter().map(|c| c.packets_received()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let now = net.now;
    for i in 0..2000u32 {
        let len = rng.random_range(0..400);
        let mut data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if i % 4 == 0 && data.len() >= 20 {
            // Looks like a STUN binding request (type, length, magic cookie).
            data[..8].copy_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]);
        }
        if i % 4 == 1 {
            // A binding request with a username naming a shard (or none) but no known ufrag;
            // every other one parses (so the shards pass it on and the owner answers Unroute).
            data = binding_request(&format!("{:02}zzzzzz:peer", i % 3 * 49), i % 8 == 1);
        }
        let source = std::net::SocketAddr::from(([127, 0, 0, 9], 1000 + (i % 500) as u16));
        let shard = i as usize % net.shards.len();
        let proto = if i % 3 == 0 {
            Protocol::Tcp
        } else {
            Protocol::Udp
        };
        net.shards[shard].handle_datagram(now, proto, source, &data);
    }
    for frame in 0..10 {
        net.send_frame(publisher, frame == 0, 3);
        net.advance(Duration::from_millis(33));
    }
    for &s in &subscribers {
        assert!(
            net.clients[s].packets_received() > before[s],
            "media still flows"
        );
    }
}

/// What a shard passes on to `owner`, from its messages.
fn passed_on_to(messages: &[(usize, ShardMessage)], owner: usize) -> Vec<Vec<u8>> {
    messages
        .iter()
        .filter(|(to, _)| *to == owner)
        .flat_map(|(_, m)| match m {
            ShardMessage::Datagrams { datagrams, .. } => {
                datagrams.iter().map(|(_, d)| d.clone()).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn what_follows_a_stun_message_goes_to_its_owner_before_the_owner_confirms_it() {
    use str0m::net::Protocol;
    let mut net = Network::new(2, LAYOUT, RouterConfig::default());
    let now = net.now;
    let source = std::net::SocketAddr::from(([127, 0, 0, 9], 4000));
    // A binding request for shard 1's ufrag lands on shard 0's socket, then the client's
    // DTLS ClientHello (content type 22) before shard 1 has answered anything.
    let stun = binding_request("01nopeer:peer", true);
    let hello = [22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    net.shards[0].handle_datagram(now, Protocol::Udp, source, &stun);
    net.shards[0].handle_datagram(now, Protocol::Udp, source, &hello);
    let mut messages = Vec::new();
    net.shards[0].take_messages(&mut messages);
    assert_eq!(
        passed_on_to(&messages, 1),
        vec![stun.clone(), hello.to_vec()]
    );

    // Shard 1 has no such ufrag: it tells shard 0 to stop, and shard 0 keeps the rest.
    for (to, msg) in messages {
        assert_eq!(to, 1);
        net.shards[1].handle_message(now, msg);
    }
    let mut answers = Vec::new();
    net.shards[1].take_messages(&mut answers);
    assert!(
        answers
            .iter()
            .any(|(to, m)| *to == 0
                && matches!(m, ShardMessage::Unroute { addr } if *addr == source)),
        "the owner answers Unroute: {answers:?}"
    );
    for (_, msg) in answers.into_iter().filter(|(to, _)| *to == 0) {
        net.shards[0].handle_message(now, msg);
    }
    net.shards[0].handle_datagram(now, Protocol::Udp, source, &hello);
    let mut later = Vec::new();
    net.shards[0].take_messages(&mut later);
    assert!(
        passed_on_to(&later, 1).is_empty(),
        "nothing more is passed on"
    );
}

/// A STUN binding request for `username`: with only a USERNAME attribute, or (`parses`)
/// also the PRIORITY and MESSAGE-INTEGRITY a request needs to parse (the integrity is not
/// checked before a peer's `Rtc` sees it).
fn binding_request(username: &str, parses: bool) -> Vec<u8> {
    let mut attrs = vec![0x00, 0x06];
    attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
    attrs.extend_from_slice(username.as_bytes());
    while attrs.len() % 4 != 0 {
        attrs.push(0);
    }
    if parses {
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff]);
        attrs.extend_from_slice(&[0x00, 0x08, 0x00, 0x14]);
        attrs.extend_from_slice(&[0xab; 20]);
    }
    let mut msg = vec![0x00, 0x01];
    msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    msg.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    msg.extend_from_slice(&[7; 12]);
    msg.extend_from_slice(&attrs);
    msg
}
