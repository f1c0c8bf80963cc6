//! The plugin API: room features (chat, member directory, reporting) as crates on the
//! signalling layer. See docs/plugins.md for a walk-through with a minimal plugin.
//!
//! A [`Plugin`] has a namespace, typed commands and events (serde), and hooks: started,
//! joined, left, command, timer, room closing. Hooks get a [`Context`] that only *queues*
//! effects — send an event to a participant, the moderators or everyone; persist or delete a
//! key; schedule a timer. The [`PluginHost`] runs hooks and hands the queued effects to its
//! owner (the room actor, or [`testing::TestRoom`] in tests), which stores, then delivers.
//! Commands are authorized through the same grants table as every other command
//! ([`crate::authz::allows`]); a plugin's errors go back to the sender as `plugin_error` with
//! the plugin's own `reason`.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::Role;
pub use crate::authz::Need;
use crate::authz::{self, Grants};
use crate::protocol::{ErrorBody, ErrorCode};

/// A participant as plugins see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Participant id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Effective role.
    pub role: Role,
    /// Effective grants.
    pub grants: Grants,
}

/// Who gets an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One participant (all their connections; nobody if absent).
    Participant(String),
    /// Everyone with the *moderate* grant.
    Moderators,
    /// Everyone present.
    Everyone,
}

/// A typed error of a plugin, for the sender: `reason` is a stable snake_case code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct PluginError {
    /// Stable code, e.g. `rate_limited`.
    pub reason: &'static str,
    /// Human-readable (English).
    pub message: String,
    /// With a rate limit: milliseconds until a retry is accepted (the answer's
    /// `retry_after_ms`).
    pub retry_after_ms: Option<u64>,
}

impl PluginError {
    /// An error with a code and message.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The same error with the wait until a retry is accepted.
    pub fn with_retry_after(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }
}

/// What a hook may do: read the time and the members, queue effects.
#[derive(Debug)]
pub struct Context<'a, E> {
    now_ms: u64,
    members: &'a [Member],
    sends: Vec<(Target, E)>,
    persists: Vec<(String, Option<String>)>,
    timers: Vec<(String, u64)>,
}

impl<'a, E> Context<'a, E> {
    fn new(now_ms: u64, members: &'a [Member]) -> Self {
        Self {
            now_ms,
            members,
            sends: Vec::new(),
            persists: Vec::new(),
            timers: Vec::new(),
        }
    }

    /// Unix milliseconds (injected in tests).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Everyone present in the room.
    pub fn members(&self) -> &[Member] {
        self.members
    }

    /// A present member.
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// Queue an event.
    pub fn send(&mut self, to: Target, event: E) {
        self.sends.push((to, event));
    }

    /// Queue storing `value` under `key` (in this plugin's namespace and room). Stored
    /// before the command is answered and before any event of the same hook is sent.
    pub fn persist(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.persists.push((key.into(), Some(value.into())));
    }

    /// Queue deleting `key`.
    pub fn delete(&mut self, key: impl Into<String>) {
        self.persists.push((key.into(), None));
    }

    /// Call [`Plugin::timer`] with `key` at `at_ms` (replaces an earlier timer with the key).
    pub fn schedule(&mut self, key: impl Into<String>, at_ms: u64) {
        self.timers.push((key.into(), at_ms));
    }
}

/// A room feature on the signalling layer. One instance per room.
pub trait Plugin: Send + 'static {
    /// Commands, as they arrive in `{"cmd": "plugin", "ns": …, "body": …}`.
    type Command: DeserializeOwned;
    /// Events, sent as `{"event": "plugin", "ns": …, "body": …}`.
    type Event: Serialize;

    /// The namespace (unique; `[a-z_]+`).
    fn namespace(&self) -> &'static str;
    /// Which grant a command needs: the authorization table's row for it.
    fn need(&self, command: &Self::Command) -> Need;
    /// The room starts; `stored` is everything persisted before, by key.
    fn started(&mut self, _ctx: &mut Context<'_, Self::Event>, _stored: Vec<(String, String)>) {}
    /// Someone entered the room (also after the lobby).
    fn joined(&mut self, _ctx: &mut Context<'_, Self::Event>, _who: &Member) {}
    /// Someone's connection ended.
    fn left(&mut self, _ctx: &mut Context<'_, Self::Event>, _who: &Member) {}
    /// A command of `who`, already authorized; `Ok` is the answer's `result`.
    fn command(
        &mut self,
        ctx: &mut Context<'_, Self::Event>,
        who: &Member,
        command: Self::Command,
    ) -> Result<serde_json::Value, PluginError>;
    /// A scheduled timer is due.
    fn timer(&mut self, _ctx: &mut Context<'_, Self::Event>, _key: &str) {}
    /// The room closes: the last participant left.
    fn closing(&mut self, _ctx: &mut Context<'_, Self::Event>) {}
    /// A member was erased (GDPR, docs/privacy.md): whatever the plugin keeps about
    /// `participant` (their id in this room) must from now on name them `pseudonym`, in
    /// memory and in what it persisted; other personal data of theirs it must delete.
    fn erased(
        &mut self,
        _ctx: &mut Context<'_, Self::Event>,
        _participant: &str,
        _pseudonym: &str,
    ) {
    }
    /// What the plugin holds about `participant`, for the member's data export (GDPR
    /// Art. 15); called on an instance that was `started` with the room's stored data.
    /// `Null`: nothing.
    fn export(&self, _participant: &str) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// Effects of one hook, events already serialized.
#[derive(Debug, Default, PartialEq)]
pub struct Output {
    /// (namespace, target, event body).
    pub sends: Vec<(&'static str, Target, serde_json::Value)>,
    /// (namespace, key, value or `None` to delete).
    pub persists: Vec<(&'static str, String, Option<String>)>,
}

impl Output {
    fn extend(&mut self, other: Output) {
        self.sends.extend(other.sends);
        self.persists.extend(other.persists);
    }
}

/// The object-safe face of a [`Plugin`], for the host.
trait AnyPlugin: Send {
    fn namespace(&self) -> &'static str;
    fn export(&self, participant: &str) -> serde_json::Value;
    fn run(
        &mut self,
        now_ms: u64,
        members: &[Member],
        hook: Hook<'_>,
    ) -> (
        Result<serde_json::Value, ErrorBody>,
        Output,
        Vec<(String, u64)>,
    );
}

enum Hook<'a> {
    Started(Vec<(String, String)>),
    Joined(&'a Member),
    Left(&'a Member),
    Command(&'a Member, serde_json::Value),
    Timer(&'a str),
    Closing,
    Erased(&'a str, &'a str),
}

impl<P: Plugin> AnyPlugin for P {
    fn namespace(&self) -> &'static str {
        Plugin::namespace(self)
    }

    fn export(&self, participant: &str) -> serde_json::Value {
        <P as Plugin>::export(self, participant)
    }

    fn run(
        &mut self,
        now_ms: u64,
        members: &[Member],
        hook: Hook<'_>,
    ) -> (
        Result<serde_json::Value, ErrorBody>,
        Output,
        Vec<(String, u64)>,
    ) {
        let ns = Plugin::namespace(self);
        let mut ctx = Context::new(now_ms, members);
        let mut result = Ok(serde_json::Value::Null);
        match hook {
            Hook::Started(stored) => self.started(&mut ctx, stored),
            Hook::Joined(who) => self.joined(&mut ctx, who),
            Hook::Left(who) => self.left(&mut ctx, who),
            Hook::Timer(key) => self.timer(&mut ctx, key),
            Hook::Closing => self.closing(&mut ctx),
            Hook::Erased(participant, pseudonym) => self.erased(&mut ctx, participant, pseudonym),
            Hook::Command(who, body) => {
                result = match serde_json::from_value::<P::Command>(body) {
                    Err(e) => Err(ErrorBody::new(ErrorCode::BadRequest, format!("{ns}: {e}"))),
                    Ok(command) => {
                        if authz::allows(&who.grants, false, self.need(&command)) {
                            self.command(&mut ctx, who, command).map_err(|e| {
                                let body = ErrorBody::new(ErrorCode::PluginError, e.message)
                                    .with_reason(e.reason);
                                match e.retry_after_ms {
                                    Some(ms) => body.with_retry_after(ms),
                                    None => body,
                                }
                            })
                        } else {
                            Err(ErrorBody::new(
                                ErrorCode::Forbidden,
                                format!("your role does not allow this {ns} command"),
                            ))
                        }
                    }
                };
            }
        }
        if result.is_err() {
            // A refused command changes nothing outside the plugin.
            return (result, Output::default(), Vec::new());
        }
        let output = Output {
            sends: ctx
                .sends
                .into_iter()
                .filter_map(|(to, e)| Some((ns, to, serde_json::to_value(e).ok()?)))
                .collect(),
            persists: ctx.persists.into_iter().map(|(k, v)| (ns, k, v)).collect(),
        };
        (result, output, ctx.timers)
    }
}

/// A factory for plugin `P`, made by `make` once per room.
pub fn factory<P: Plugin>(make: impl Fn() -> P + Send + Sync + 'static) -> Registration {
    Registration {
        make: Arc::new(move || Box::new(make()) as Box<dyn AnyPlugin>),
    }
}

/// One registered plugin (see [`Registry`]).
#[derive(Clone)]
pub struct Registration {
    make: Arc<dyn Fn() -> Box<dyn AnyPlugin> + Send + Sync>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registration(..)")
    }
}

/// The plugins of this server: registered in one place (the binary's `main`).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    plugins: Vec<Registration>,
}

impl Registry {
    /// No plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a plugin (see [`factory`]).
    pub fn with(mut self, plugin: Registration) -> Self {
        self.plugins.push(plugin);
        self
    }

    /// What each plugin holds about `participant` in a room whose stored data is
    /// `stored(namespace)`: (namespace, export) for the plugins that hold anything.
    pub fn export(
        &self,
        stored: impl Fn(&str) -> Vec<(String, String)>,
        participant: &str,
    ) -> Vec<(&'static str, serde_json::Value)> {
        let mut out = Vec::new();
        for r in &self.plugins {
            let mut plugin = (r.make)();
            let data = stored(plugin.namespace());
            let _ = plugin.run(0, &[], Hook::Started(data));
            let value = plugin.export(participant);
            if !value.is_null() {
                out.push((plugin.namespace(), value));
            }
        }
        out
    }

    /// Fresh instances for a room.
    pub fn host(&self) -> PluginHost {
        PluginHost {
            plugins: self.plugins.iter().map(|r| (r.make)()).collect(),
            timers: BTreeSet::new(),
        }
    }
}

/// Runs a room's plugins; pure: no clock, no I/O.
pub struct PluginHost {
    plugins: Vec<Box<dyn AnyPlugin>>,
    /// (due, plugin index, key).
    timers: BTreeSet<(u64, usize, String)>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("plugins", &self.namespaces())
            .field("timers", &self.timers.len())
            .finish()
    }
}

impl PluginHost {
    /// The namespaces, in registration order.
    pub fn namespaces(&self) -> Vec<&'static str> {
        self.plugins.iter().map(|p| p.namespace()).collect()
    }

    fn run_one(
        &mut self,
        i: usize,
        now_ms: u64,
        members: &[Member],
        hook: Hook<'_>,
    ) -> (Result<serde_json::Value, ErrorBody>, Output) {
        let (result, output, timers) = self.plugins[i].run(now_ms, members, hook);
        for (key, at) in timers {
            self.timers.retain(|(_, p, k)| !(*p == i && *k == key));
            self.timers.insert((at, i, key));
        }
        (result, output)
    }

    fn run_all(
        &mut self,
        now_ms: u64,
        members: &[Member],
        hook: impl Fn() -> Hook<'static>,
    ) -> Output {
        let mut out = Output::default();
        for i in 0..self.plugins.len() {
            out.extend(self.run_one(i, now_ms, members, hook()).1);
        }
        out
    }

    /// Start every plugin with what it stored (`stored(namespace)`).
    pub fn started(
        &mut self,
        now_ms: u64,
        members: &[Member],
        stored: impl Fn(&str) -> Vec<(String, String)>,
    ) -> Output {
        let mut out = Output::default();
        for i in 0..self.plugins.len() {
            let data = stored(self.plugins[i].namespace());
            out.extend(self.run_one(i, now_ms, members, Hook::Started(data)).1);
        }
        out
    }

    /// `who` entered.
    pub fn joined(&mut self, now_ms: u64, members: &[Member], who: &Member) -> Output {
        let mut out = Output::default();
        for i in 0..self.plugins.len() {
            out.extend(self.run_one(i, now_ms, members, Hook::Joined(who)).1);
        }
        out
    }

    /// `who` left.
    pub fn left(&mut self, now_ms: u64, members: &[Member], who: &Member) -> Output {
        let mut out = Output::default();
        for i in 0..self.plugins.len() {
            out.extend(self.run_one(i, now_ms, members, Hook::Left(who)).1);
        }
        out
    }

    /// The room closes.
    pub fn closing(&mut self, now_ms: u64, members: &[Member]) -> Output {
        self.run_all(now_ms, members, || Hook::Closing)
    }

    /// `participant` was erased: every plugin renames them `pseudonym`.
    pub fn erased(
        &mut self,
        now_ms: u64,
        members: &[Member],
        participant: &str,
        pseudonym: &str,
    ) -> Output {
        let mut out = Output::default();
        for i in 0..self.plugins.len() {
            out.extend(
                self.run_one(i, now_ms, members, Hook::Erased(participant, pseudonym))
                    .1,
            );
        }
        out
    }

    /// A `plugin` command of `who` for namespace `ns`.
    pub fn command(
        &mut self,
        now_ms: u64,
        members: &[Member],
        who: &Member,
        ns: &str,
        body: serde_json::Value,
    ) -> (Result<serde_json::Value, ErrorBody>, Output) {
        let Some(i) = self.plugins.iter().position(|p| p.namespace() == ns) else {
            return (
                Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!("no plugin {ns:?} on this server"),
                )),
                Output::default(),
            );
        };
        self.run_one(i, now_ms, members, Hook::Command(who, body))
    }

    /// When the next timer is due.
    pub fn next_timer(&self) -> Option<u64> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// Fire every timer due at `now_ms`.
    pub fn fire_due(&mut self, now_ms: u64, members: &[Member]) -> Output {
        let mut out = Output::default();
        while let Some((at, i, key)) = self.timers.first().cloned() {
            if at > now_ms {
                break;
            }
            self.timers.pop_first();
            out.extend(self.run_one(i, now_ms, members, Hook::Timer(&key)).1);
        }
        out
    }
}

pub mod testing {
    //! An in-memory room for plugin tests: no sockets, injected time, stored data kept in a
    //! map that survives [`TestRoom::restart`].

    use std::collections::BTreeMap;

    use super::{Member, Output, PluginHost, Registry, Target};
    use crate::auth::Role;
    use crate::authz::GrantOverrides;
    use crate::protocol::ErrorBody;

    /// One room with the registered plugins.
    #[derive(Debug)]
    pub struct TestRoom {
        registry: Registry,
        host: PluginHost,
        /// Virtual unix milliseconds.
        pub now_ms: u64,
        members: Vec<Member>,
        stored: BTreeMap<(String, String), String>,
        inbox: BTreeMap<String, Vec<serde_json::Value>>,
    }

    impl TestRoom {
        /// A room at `now_ms` with `registry`'s plugins, started with nothing stored.
        pub fn new(registry: Registry, now_ms: u64) -> Self {
            let host = registry.host();
            let mut room = Self {
                registry,
                host,
                now_ms,
                members: Vec::new(),
                stored: BTreeMap::new(),
                inbox: BTreeMap::new(),
            };
            room.start();
            room
        }

        fn start(&mut self) {
            let stored = self.stored.clone();
            let out = self.host.started(self.now_ms, &self.members, |ns| {
                stored
                    .iter()
                    .filter(|((n, _), _)| n == ns)
                    .map(|((_, k), v)| (k.clone(), v.clone()))
                    .collect()
            });
            self.apply(out);
        }

        /// A member with `role`'s default grants.
        pub fn member(id: &str, role: Role) -> Member {
            let (role, grants) = GrantOverrides::default().apply(role);
            Member {
                id: id.to_owned(),
                name: id.to_owned(),
                role,
                grants,
            }
        }

        /// `id` joins with `role`.
        pub fn join(&mut self, id: &str, role: Role) {
            let m = Self::member(id, role);
            self.members.push(m.clone());
            let out = self.host.joined(self.now_ms, &self.members, &m);
            self.apply(out);
        }

        /// `id` leaves; the room closes when it was the last.
        pub fn leave(&mut self, id: &str) {
            let Some(i) = self.members.iter().position(|m| m.id == id) else {
                return;
            };
            let m = self.members.remove(i);
            let out = self.host.left(self.now_ms, &self.members, &m);
            self.apply(out);
            if self.members.is_empty() {
                let out = self.host.closing(self.now_ms, &self.members);
                self.apply(out);
            }
        }

        /// A command of `id` for plugin `ns`.
        pub fn command(
            &mut self,
            id: &str,
            ns: &str,
            body: serde_json::Value,
        ) -> Result<serde_json::Value, ErrorBody> {
            let who = self
                .members
                .iter()
                .find(|m| m.id == id)
                .cloned()
                .unwrap_or_else(|| Self::member(id, Role::Observer));
            let (result, out) = self
                .host
                .command(self.now_ms, &self.members, &who, ns, body);
            self.apply(out);
            result
        }

        /// Let time pass, firing timers on the way.
        pub fn advance(&mut self, ms: u64) {
            let end = self.now_ms + ms;
            while let Some(at) = self.host.next_timer().filter(|&at| at <= end) {
                self.now_ms = self.now_ms.max(at);
                let out = self.host.fire_due(self.now_ms, &self.members);
                self.apply(out);
            }
            self.now_ms = end;
        }

        /// Stop and start again from what was stored (a server restart).
        pub fn restart(&mut self) {
            self.host = self.registry.host();
            self.start();
        }

        /// Events `id` received so far (and forget them).
        pub fn take_events(&mut self, id: &str) -> Vec<serde_json::Value> {
            self.inbox.remove(id).unwrap_or_default()
        }

        /// What the plugins stored, by (namespace, key).
        pub fn stored(&self) -> &BTreeMap<(String, String), String> {
            &self.stored
        }

        fn apply(&mut self, out: Output) {
            for (ns, key, value) in out.persists {
                match value {
                    Some(v) => self.stored.insert((ns.to_owned(), key), v),
                    None => self.stored.remove(&(ns.to_owned(), key)),
                };
            }
            for (_, to, event) in out.sends {
                let ids: Vec<String> = self
                    .members
                    .iter()
                    .filter(|m| match &to {
                        Target::Participant(id) => &m.id == id,
                        Target::Moderators => m.grants.moderate,
                        Target::Everyone => true,
                    })
                    .map(|m| m.id.clone())
                    .collect();
                for id in ids {
                    self.inbox.entry(id).or_default().push(event.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The host with a minimal plugin (the one docs/plugins.md walks through).
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use super::testing::TestRoom;
    use super::*;
    use crate::auth::Role;

    /// Counts applause; resets a minute after the last clap.
    #[derive(Default)]
    struct Applause {
        total: u64,
    }

    #[derive(Deserialize)]
    #[serde(tag = "action", rename_all = "snake_case")]
    enum ApplauseCommand {
        Clap { times: u64 },
        Reset,
    }

    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum ApplauseEvent {
        Total { total: u64 },
    }

    impl Plugin for Applause {
        type Command = ApplauseCommand;
        type Event = ApplauseEvent;

        fn namespace(&self) -> &'static str {
            "applause"
        }

        fn need(&self, command: &ApplauseCommand) -> Need {
            match command {
                ApplauseCommand::Clap { .. } => Need::Speak,
                ApplauseCommand::Reset => Need::Moderate,
            }
        }

        fn started(
            &mut self,
            _ctx: &mut Context<'_, ApplauseEvent>,
            stored: Vec<(String, String)>,
        ) {
            for (key, value) in stored {
                if key == "total" {
                    self.total = value.parse().unwrap_or(0);
                }
            }
        }

        fn command(
            &mut self,
            ctx: &mut Context<'_, ApplauseEvent>,
            _who: &Member,
            command: ApplauseCommand,
        ) -> Result<Value, PluginError> {
            match command {
                ApplauseCommand::Clap { times: 0 } => {
                    return Err(PluginError::new("silent", "clap at least once"));
                }
                ApplauseCommand::Clap { times } => self.total += times,
                ApplauseCommand::Reset => self.total = 0,
            }
            ctx.persist("total", self.total.to_string());
            ctx.send(Target::Everyone, ApplauseEvent::Total { total: self.total });
            ctx.schedule("quiet", ctx.now_ms() + 60_000);
            Ok(json!({ "total": self.total }))
        }

        fn timer(&mut self, ctx: &mut Context<'_, ApplauseEvent>, key: &str) {
            if key == "quiet" {
                self.total = 0;
                ctx.persist("total", "0");
                ctx.send(Target::Moderators, ApplauseEvent::Total { total: 0 });
            }
        }
    }

    fn room() -> TestRoom {
        let mut r = TestRoom::new(Registry::new().with(factory(Applause::default)), 1_000);
        r.join("mod", Role::Moderator);
        r.join("del", Role::Delegate);
        r.join("obs", Role::Observer);
        r
    }

    #[test]
    fn commands_are_typed_authorized_and_their_effects_delivered() {
        let mut r = room();
        let ok = r.command("del", "applause", json!({ "action": "clap", "times": 3 }));
        assert_eq!(ok.unwrap(), json!({ "total": 3 }));
        for id in ["mod", "del", "obs"] {
            assert_eq!(
                r.take_events(id),
                vec![json!({ "type": "total", "total": 3 })]
            );
        }
        assert_eq!(r.stored()[&("applause".into(), "total".into())], "3");

        let err = r
            .command("obs", "applause", json!({ "action": "clap", "times": 1 }))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Forbidden, "observers may not speak");
        let err = r
            .command("del", "applause", json!({ "action": "reset" }))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Forbidden);
        let err = r
            .command("del", "applause", json!({ "action": "clap", "times": 0 }))
            .unwrap_err();
        assert_eq!(
            (err.code, err.reason),
            (ErrorCode::PluginError, Some("silent"))
        );
        let err = r
            .command("del", "applause", json!({ "action": "boo" }))
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        let err = r.command("del", "nope", json!({})).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(r.take_events("del").is_empty(), "refusals send nothing");
        assert_eq!(r.stored()[&("applause".into(), "total".into())], "3");
    }

    #[test]
    fn timers_fire_on_the_injected_clock_and_state_survives_a_restart() {
        let mut r = room();
        r.command("del", "applause", json!({ "action": "clap", "times": 2 }))
            .unwrap();
        r.advance(30_000);
        r.command("del", "applause", json!({ "action": "clap", "times": 1 }))
            .unwrap();
        r.restart();
        assert_eq!(
            r.command("mod", "applause", json!({ "action": "clap", "times": 1 }))
                .unwrap(),
            json!({ "total": 4 }),
            "restored from the store"
        );
        r.take_events("mod");
        r.take_events("del");
        r.advance(59_999);
        assert!(r.take_events("mod").is_empty());
        r.advance(1);
        assert_eq!(
            r.take_events("mod"),
            vec![json!({ "type": "total", "total": 0 })]
        );
        assert!(r.take_events("del").is_empty(), "only moderators");
    }
}
