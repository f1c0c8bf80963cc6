//! GDPR: erasing a member, and the retention rules that do it by themselves
//! (docs/privacy.md, *Erasure* and *Retention*).
//!
//! **Erasure** (`POST /api/admin/erase`, an admin over the member's unit): the rooms the
//! member was seated in rename them to a pseudonym first — the room actors hold names in
//! memory (speaker list, chat) and would write them back otherwise — then one transaction
//! removes the member's record with everything keyed by their number and renames their
//! invite records, and finally the database file is rewritten (checkpoint, `VACUUM`,
//! `secure_delete`) so no freed page still holds the old rows. What stays, and why, is in
//! docs/privacy.md: the pseudonymised entries the minutes and the audit chain need.
//!
//! **Retention** ([`run_retention`], config `[retention]`): members marked "left" by an
//! import are erased `left_days` after that; accounts nobody signed in to for
//! `inactive_days` lose their password and sessions; failed sign-ins are forgotten after a
//! day.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::AppState;
use crate::account::{login_failure_key, member_failure_key};
use crate::org::UnitTree;
use crate::org_plugin::{self, refusal};
use crate::room::{RoomMsg, Rooms};
use crate::storage::{StorageError, Store};

/// What an erased member is called from then on (with four random hex digits).
pub const PSEUDONYM: &str = "Gelöschtes Mitglied";
/// How long a room may take to rename an erased member.
const ROOM_TIMEOUT: Duration = Duration::from_secs(10);
const DAY: u64 = 24 * 3600;

/// Retention rules (config section `[retention]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Apply them at all.
    pub enabled: bool,
    /// Erase members this many days after an import marked them as left.
    pub left_days: u64,
    /// End accounts (password, sessions) nobody signed in to for this many days.
    pub inactive_days: u64,
    /// How often to look (seconds).
    pub sweep_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            left_days: 180,
            inactive_days: 730,
            sweep_secs: 3600,
        }
    }
}

/// An erasure that did not happen (nothing was changed in the store).
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// No such member.
    #[error("no member {0}")]
    NotFound(String),
    /// A room did not rename them in time (the erasure can be run again).
    #[error("room {0} did not confirm the erasure")]
    Room(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An organisation-wide plugin could not rename the member.
    #[error("the {0} plugin could not erase the member: {1}")]
    Plugin(&'static str, String),
}

/// A finished erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// The name that replaced theirs.
    pub pseudonym: String,
    /// Rooms they were seated in.
    pub rooms: usize,
}

/// Erase member `number` (see the module docs).
pub async fn erase(
    store: &Arc<dyn Store>,
    rooms: &Rooms,
    org_plugins: &crate::org_plugin::OrgRegistry,
    number: &str,
) -> Result<Erased, EraseError> {
    let member = store
        .member(number)?
        .ok_or_else(|| EraseError::NotFound(number.to_owned()))?;
    let suffix: [u8; 2] = rand::rng().random();
    let pseudonym = format!("{PSEUDONYM} {}", hex::encode(suffix));
    let entries = store.rosters_of(number)?;
    for entry in &entries {
        let Some(invite) = store.invite(&entry.invite_id)? else {
            continue;
        };
        let handle = rooms
            .get_or_start(&entry.room_id)
            .map_err(|_| EraseError::Room(entry.room_id.clone()))?;
        let Some(handle) = handle else {
            continue;
        };
        let (done, confirmed) = oneshot::channel();
        handle
            .send(RoomMsg::Erase {
                participant: invite.participant_id,
                pseudonym: pseudonym.clone(),
                done,
            })
            .map_err(|_| EraseError::Room(entry.room_id.clone()))?;
        match tokio::time::timeout(ROOM_TIMEOUT, confirmed).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                warn!(room = %entry.room_id, "renaming an erased member failed: {e}");
                return Err(EraseError::Room(entry.room_id.clone()));
            }
            _ => return Err(EraseError::Room(entry.room_id.clone())),
        }
    }
    // The organisation-wide plugins (circulations' voter lists, say) rename them too.
    org_plugins
        .erased(store.as_ref(), number, &pseudonym)
        .map_err(|(ns, e)| EraseError::Plugin(ns, e.message))?;
    let mut keys = vec![member_failure_key(number), login_failure_key(number)];
    keys.extend(member.email.as_deref().map(login_failure_key));
    store.erase_member(number, &pseudonym, &keys)?;
    store.compact()?;
    Ok(Erased {
        pseudonym,
        rooms: entries.len(),
    })
}

/// What one retention sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Members erased (left long enough ago).
    pub erased: usize,
    /// Accounts ended (unused long enough).
    pub deactivated: usize,
}

/// One retention sweep at `now`.
pub async fn sweep(
    store: &Arc<dyn Store>,
    rooms: &Rooms,
    org_plugins: &crate::org_plugin::OrgRegistry,
    config: &RetentionConfig,
    now: u64,
) -> Result<Swept, EraseError> {
    let mut swept = Swept::default();
    for (number, left_at) in store.left_members(now)? {
        if now >= left_at.saturating_add(config.left_days.saturating_mul(DAY)) {
            erase(store, rooms, org_plugins, &number).await?;
            swept.erased += 1;
        }
    }
    let before = now.saturating_sub(config.inactive_days.saturating_mul(DAY));
    for number in store.idle_accounts(before, now)? {
        store.deactivate(&number)?;
        swept.deactivated += 1;
    }
    store.forget_failures(now.saturating_sub(DAY))?;
    Ok(swept)
}

/// Sweep every `sweep_secs` until the process ends.
pub async fn run_retention(state: Arc<AppState>, config: RetentionConfig) {
    if !config.enabled {
        return;
    }
    let every = Duration::from_secs(config.sweep_secs.max(1));
    loop {
        match sweep(
            &state.store,
            &state.rooms,
            &state.org_plugins,
            &config,
            (state.clock)(),
        )
        .await
        {
            Ok(s) if s.erased + s.deactivated > 0 => {
                info!(
                    erased = s.erased,
                    deactivated = s.deactivated,
                    "retention sweep"
                );
            }
            Ok(_) => {}
            Err(e) => warn!("retention sweep failed: {e}"),
        }
        tokio::time::sleep(every).await;
    }
}

/// `POST /api/admin/erase`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/api/admin/erase", post(erase_route))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    number: String,
}

/// An admin erases a member of a unit they administer (not themselves).
async fn erase_route(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match org_plugin::caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if caller.admin_of.is_empty() {
        return refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role does not allow this command",
            None,
        );
    }
    let EraseBody { number } = match org_plugin::json_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let refused = |reason, message: &str| {
        refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            message,
            Some(reason),
        )
    };
    let in_scope = match (state.store.member(&number), state.store.units()) {
        (Ok(member), Ok(units)) => member.is_some_and(|m| {
            UnitTree::new(&units).is_ok_and(|tree| {
                caller
                    .admin_of
                    .iter()
                    .any(|scope| tree.covers(scope, &m.unit))
            })
        }),
        (Err(e), _) | (_, Err(e)) => return org_plugin::storage_failure(e),
    };
    if !in_scope {
        // The same answer for "no such member" and "not yours".
        return refused("not_found", "no such member in your units");
    }
    if number == caller.member.number {
        return refused("self", "ask another admin to erase your own record");
    }
    match erase(&state.store, &state.rooms, &state.org_plugins, &number).await {
        Ok(erased) => {
            info!(rooms = erased.rooms, "a member was erased");
            org_plugin::answer(Ok(
                json!({ "erased": true, "pseudonym": erased.pseudonym, "rooms": erased.rooms }),
            ))
        }
        Err(EraseError::NotFound(_)) => refused("not_found", "no such member in your units"),
        Err(EraseError::Room(room)) => refused(
            "room_busy",
            &format!(
                "room {room} did not confirm in time; the member's record is unchanged, try again"
            ),
        ),
        Err(EraseError::Plugin(ns, message)) => refused(
            "plugin_failed",
            &format!(
                "the {ns} plugin could not rename the member ({message}); the member's record is unchanged, try again"
            ),
        ),
        Err(EraseError::Storage(e)) => org_plugin::storage_failure(e),
    }
}
