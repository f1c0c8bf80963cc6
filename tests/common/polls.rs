//! Poll helpers shared by the ballot and secrecy tests: create, vote, read a poll, and a
//! dump of every table of a database file.

use plenum_loadtest::SignalClient;
use serde_json::{Value, json};

pub fn motion(secret: bool) -> Value {
    json!({ "title": "Antrag A1: Mehr Bänke im Park", "kind": "motion", "secret": secret })
}

pub async fn create(m: &SignalClient, spec: Value) -> String {
    let r = m
        .request("poll_create", json!({ "poll": spec }))
        .await
        .unwrap();
    r["poll"]["id"].as_str().unwrap().to_owned()
}

pub async fn poll_of(c: &SignalClient, id: &str) -> Value {
    let list = c.request("poll_list", json!({})).await.unwrap();
    list["polls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap()
}

pub async fn vote(c: &SignalClient, id: &str, choice: Value) -> String {
    let r = c
        .request("cast_vote", json!({ "poll_id": id, "choice": choice }))
        .await
        .unwrap();
    r["receipt"].as_str().unwrap().to_owned()
}

pub fn counts(poll: &Value) -> (u64, u64, u64) {
    let c = &poll["result"]["questions"][0]["counts"];
    (
        c["yes"].as_u64().unwrap(),
        c["no"].as_u64().unwrap(),
        c["abstain"].as_u64().unwrap(),
    )
}

/// Every table and row of the database, as text.
pub fn dump_database(path: &std::path::Path) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables.sort();
    tables
        .into_iter()
        .map(|t| {
            let mut stmt = db.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let cols: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
            let n = cols.len();
            let rows = stmt
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                            rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                            rusqlite::types::ValueRef::Real(v) => v.to_string(),
                            rusqlite::types::ValueRef::Text(t) => {
                                String::from_utf8_lossy(t).into_owned()
                            }
                            rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                        })
                        .collect::<Vec<String>>())
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (t, cols, rows)
        })
        .collect()
}
