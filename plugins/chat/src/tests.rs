//! The chat against an in-memory test room (no sockets, virtual time).
#![allow(clippy::unwrap_used)]

use plenum_signalling::auth::Role;
use plenum_signalling::plugin::Registry;
use plenum_signalling::plugin::testing::TestRoom;
use plenum_signalling::protocol::ErrorCode;
use plenum_signalling::serde_json::{Value, json};

use super::{ChatConfig, NAMESPACE, registration};

const T0: u64 = 1_800_000_000_000;

fn room(config: ChatConfig) -> TestRoom {
    let mut r = TestRoom::new(Registry::new().with(registration(config)), T0);
    r.join("mod", Role::Moderator);
    r.join("anna", Role::Delegate);
    r.join("ben", Role::Delegate);
    for id in ["mod", "anna", "ben"] {
        r.take_events(id);
    }
    r
}

fn send(
    r: &mut TestRoom,
    who: &str,
    body: Value,
) -> Result<Value, (ErrorCode, Option<&'static str>)> {
    r.command(who, NAMESPACE, body)
        .map_err(|e| (e.code, e.reason))
}

/// How many messages the chat has stored.
fn stored_messages(r: &TestRoom) -> usize {
    r.stored()
        .keys()
        .filter(|(_, k)| k.starts_with("msg/"))
        .count()
}

fn texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "message")
        .map(|e| e["message"]["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn room_messages_reach_everyone_and_late_joiners_get_the_history() {
    let mut r = room(ChatConfig::default());
    send(
        &mut r,
        "anna",
        json!({ "action": "send", "text": "Guten Morgen" }),
    )
    .unwrap();
    r.now_ms += 1000;
    send(
        &mut r,
        "ben",
        json!({ "action": "send", "text": "  Moin  " }),
    )
    .unwrap();
    for id in ["mod", "anna", "ben"] {
        assert_eq!(texts(&r.take_events(id)), vec!["Guten Morgen", "Moin"]);
    }
    r.join("cem", Role::Delegate);
    let events = r.take_events("cem");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "history");
    let history: Vec<&str> = events[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(history, vec!["Guten Morgen", "Moin"]);
    assert_eq!(events[0]["messages"][1]["from_name"], "ben");
}

#[test]
fn history_is_limited_to_the_last_n() {
    let mut r = room(ChatConfig {
        history: 2,
        rate_messages: 100,
        ..ChatConfig::default()
    });
    for i in 0..5 {
        send(
            &mut r,
            "anna",
            json!({ "action": "send", "text": format!("m{i}") }),
        )
        .unwrap();
    }
    let h = send(&mut r, "ben", json!({ "action": "history" })).unwrap();
    let texts: Vec<&str> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["m3", "m4"]);
}

#[test]
fn private_messages_reach_only_the_recipient_and_the_sender() {
    let mut r = room(ChatConfig::default());
    send(
        &mut r,
        "anna",
        json!({ "action": "send", "text": "psst", "to": "ben" }),
    )
    .unwrap();
    assert_eq!(texts(&r.take_events("ben")), vec!["psst"]);
    assert_eq!(texts(&r.take_events("anna")), vec!["psst"]);
    assert!(r.take_events("mod").is_empty(), "moderators do not see it");
    // Not in anyone else's history either, and moderators cannot delete it.
    r.join("cem", Role::Delegate);
    assert!(
        r.take_events("cem")[0]["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let ben_history = send(&mut r, "ben", json!({ "action": "history" })).unwrap();
    assert_eq!(ben_history["messages"].as_array().unwrap().len(), 1);
    assert_eq!(
        send(
            &mut r,
            "mod",
            json!({ "action": "delete", "message_id": 1 })
        ),
        Err((ErrorCode::PluginError, Some("not_found")))
    );
    assert_eq!(
        send(
            &mut r,
            "anna",
            json!({ "action": "send", "text": "x", "to": "nobody" })
        ),
        Err((ErrorCode::PluginError, Some("not_found")))
    );
}

#[test]
fn moderators_delete_announce_disable_and_mute() {
    let mut r = room(ChatConfig::default());
    let id =
        send(&mut r, "anna", json!({ "action": "send", "text": "Spam" })).unwrap()["message_id"]
            .as_u64()
            .unwrap();
    r.take_events("ben");
    assert_eq!(
        send(
            &mut r,
            "ben",
            json!({ "action": "delete", "message_id": id })
        ),
        Err((ErrorCode::Forbidden, None)),
        "delegates may not delete"
    );
    send(
        &mut r,
        "mod",
        json!({ "action": "delete", "message_id": id }),
    )
    .unwrap();
    assert_eq!(
        r.take_events("ben"),
        vec![json!({ "type": "deleted", "message_id": id })]
    );
    assert!(stored_messages(&r) == 0, "gone from the store");

    send(
        &mut r,
        "mod",
        json!({ "action": "set_enabled", "enabled": false }),
    )
    .unwrap();
    assert_eq!(
        r.take_events("ben"),
        vec![json!({ "type": "state", "enabled": false, "muted": false })]
    );
    assert_eq!(
        send(&mut r, "ben", json!({ "action": "send", "text": "hallo?" })),
        Err((ErrorCode::PluginError, Some("chat_disabled")))
    );
    send(
        &mut r,
        "mod",
        json!({ "action": "announce", "text": "Pause bis 14 Uhr" }),
    )
    .unwrap();
    let ev = r.take_events("ben");
    assert_eq!(ev[0]["message"]["announcement"], true);
    assert_eq!(
        send(&mut r, "ben", json!({ "action": "announce", "text": "x" })),
        Err((ErrorCode::Forbidden, None))
    );

    send(
        &mut r,
        "mod",
        json!({ "action": "set_enabled", "enabled": true }),
    )
    .unwrap();
    send(
        &mut r,
        "mod",
        json!({ "action": "mute", "participant_id": "ben", "muted": true }),
    )
    .unwrap();
    assert_eq!(
        send(&mut r, "ben", json!({ "action": "send", "text": "hallo?" })),
        Err((ErrorCode::PluginError, Some("muted")))
    );
    send(
        &mut r,
        "anna",
        json!({ "action": "send", "text": "ich darf" }),
    )
    .unwrap();
}

#[test]
fn length_and_rate_limits_give_clear_errors_and_change_nothing() {
    let mut r = room(ChatConfig {
        max_length: 10,
        rate_messages: 3,
        rate_window_secs: 10,
        ..ChatConfig::default()
    });
    assert_eq!(
        send(
            &mut r,
            "anna",
            json!({ "action": "send", "text": "x".repeat(11) })
        ),
        Err((ErrorCode::PluginError, Some("too_long")))
    );
    assert_eq!(
        send(&mut r, "anna", json!({ "action": "send", "text": "   " })),
        Err((ErrorCode::PluginError, Some("empty")))
    );
    assert_eq!(
        send(&mut r, "anna", json!({ "action": "shout" })),
        Err((ErrorCode::BadRequest, None))
    );
    for i in 0..3 {
        send(
            &mut r,
            "anna",
            json!({ "action": "send", "text": format!("{i}") }),
        )
        .unwrap();
        r.now_ms += 1000;
    }
    let err = r
        .command("anna", NAMESPACE, json!({ "action": "send", "text": "4" }))
        .unwrap_err();
    assert_eq!(err.reason, Some("rate_limited"));
    assert!(
        err.message.contains("try again in 7000 ms"),
        "{}",
        err.message
    );
    assert_eq!(err.retry_after_ms, Some(7000), "the wait in its own field");
    send(&mut r, "ben", json!({ "action": "send", "text": "ben ok" })).unwrap();
    r.now_ms += 7000;
    send(&mut r, "anna", json!({ "action": "send", "text": "4" })).unwrap();
    assert_eq!(stored_messages(&r), 5);
}

#[test]
fn messages_survive_a_restart_and_expire_after_the_room_closed() {
    let mut r = room(ChatConfig {
        retention_hours: 1,
        ..ChatConfig::default()
    });
    send(
        &mut r,
        "anna",
        json!({ "action": "send", "text": "bleibt" }),
    )
    .unwrap();
    r.restart();
    let h = send(&mut r, "ben", json!({ "action": "history" })).unwrap();
    assert_eq!(h["messages"][0]["text"], "bleibt");
    let next = send(&mut r, "ben", json!({ "action": "send", "text": "neu" })).unwrap();
    assert_eq!(next["message_id"], 2, "ids continue after a restart");

    // Everyone leaves: the room closes; an hour later the messages are gone.
    for id in ["mod", "anna", "ben"] {
        r.leave(id);
    }
    r.advance(59 * 60 * 1000);
    assert_eq!(stored_messages(&r), 2);
    r.advance(60 * 1000);
    assert_eq!(stored_messages(&r), 0);

    // Also when the server was down at the due time.
    r.join("anna", Role::Delegate);
    send(&mut r, "anna", json!({ "action": "send", "text": "spät" })).unwrap();
    r.leave("anna");
    r.now_ms += 2 * 3_600_000;
    r.restart();
    assert_eq!(stored_messages(&r), 0);

    // A room in use again does not expire.
    r.join("anna", Role::Delegate);
    send(
        &mut r,
        "anna",
        json!({ "action": "send", "text": "wieder da" }),
    )
    .unwrap();
    r.advance(3 * 3_600_000);
    assert_eq!(stored_messages(&r), 1);
}

#[test]
fn authorization_goes_through_the_grants_table() {
    // Observers may chat (they are members) but not moderate.
    let mut r = room(ChatConfig::default());
    r.join("obs", Role::Observer);
    send(&mut r, "obs", json!({ "action": "send", "text": "Frage" })).unwrap();
    for (action, body) in [
        ("announce", json!({ "action": "announce", "text": "x" })),
        ("delete", json!({ "action": "delete", "message_id": 1 })),
        (
            "set_enabled",
            json!({ "action": "set_enabled", "enabled": false }),
        ),
        (
            "mute",
            json!({ "action": "mute", "participant_id": "anna", "muted": true }),
        ),
    ] {
        for who in ["obs", "anna"] {
            assert_eq!(
                send(&mut r, who, body.clone()),
                Err((ErrorCode::Forbidden, None)),
                "{who} {action}"
            );
        }
    }
}

#[test]
fn muting_a_moderators_chat_needs_admin_like_every_action_on_moderators() {
    let mut r = room(ChatConfig::default());
    r.join("mod2", Role::Moderator);
    r.join("boss", Role::Admin);
    let mute = |who: &str| json!({ "action": "mute", "participant_id": who, "muted": true });
    assert_eq!(
        send(&mut r, "mod", mute("mod2")),
        Err((ErrorCode::PluginError, Some("forbidden")))
    );
    assert_eq!(
        send(&mut r, "mod", mute("boss")),
        Err((ErrorCode::PluginError, Some("forbidden")))
    );
    send(&mut r, "mod", mute("anna")).unwrap();
    send(&mut r, "boss", mute("mod2")).unwrap();
    // The refused mute changed nothing: mod2 was muted only by the admin, boss never.
    send(&mut r, "boss", json!({ "action": "send", "text": "ok" })).unwrap();
}
