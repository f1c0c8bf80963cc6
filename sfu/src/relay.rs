//! Cascading a room to other nodes (docs/cluster.md): the media plane's two ends of a relay,
//! with no networking of their own.
//!
//! - On the **origin**, a *relay* is a subscriber of the room's router without a WebRTC
//!   connection: it has receive slots like a browser (the stage slot capped at one simulcast
//!   layer, or audio slots), the router chooses and rewrites what each slot carries, and the
//!   room's home shard hands every packet for it to the [`RelaySink`] instead of writing it
//!   to a connection. Floor gating, mutes and layer choice happen before, as for everyone.
//! - On an **edge**, a *mirror* is a publisher of the edge's router without a connection:
//!   what arrives for it from the origin is [injected](crate::SfuHandle::inject) as if its
//!   browser had sent it (a relay stream of layer `l` becomes the mirror's simulcast layer
//!   `l`), so the edge chooses layers per viewer and rewrites again. The router's keyframe
//!   requests for a mirror go to the [`RelaySink`], which asks the origin.
//!
//! Both calls of the sink come from the home shard's worker thread and must not block.

use crate::PeerId;
use crate::rewrite::{PacketIds, RewrittenIds};
use crate::router::Kind;

/// One packet for a relay's slot, as the origin's router rewrote it.
#[derive(Debug, Clone, Copy)]
pub struct RelayedPacket<'a> {
    /// Audio or video.
    pub kind: Kind,
    /// The slot's continuous ids.
    pub ids: RewrittenIds,
    /// The packet starts a VP8 keyframe.
    pub keyframe: bool,
    /// The RTP marker bit.
    pub marker: bool,
    /// RFC 6464 audio level, if the packet has one.
    pub audio_level: Option<i8>,
    /// The RTP payload as the publisher sent it (the VP8 descriptor's ids are the
    /// publisher's; `ids` says what they become).
    pub payload: &'a [u8],
}

/// Where relay packets and mirror keyframe requests go (the cluster link).
pub trait RelaySink: Send + Sync + std::fmt::Debug {
    /// A packet for slot `slot` of relay `relay` (origin side).
    fn packet(&self, relay: PeerId, slot: usize, packet: &RelayedPacket<'_>);
    /// The edge's router wants a keyframe of mirror `mirror`'s layer `layer` (edge side).
    fn keyframe_request(&self, mirror: PeerId, layer: u8);
}

/// A packet from the origin for a mirror publisher of this node (edge side).
#[derive(Debug, Clone)]
pub struct InjectedPacket {
    /// The mirror.
    pub mirror: PeerId,
    /// Audio or video.
    pub kind: Kind,
    /// Which of the mirror's simulcast layers it belongs to (0 for audio).
    pub layer: u8,
    /// Its ids (the origin's slot ids; the edge rewrites them again).
    pub ids: PacketIds,
    /// The packet starts a VP8 keyframe.
    pub keyframe: bool,
    /// The RTP marker bit.
    pub marker: bool,
    /// RFC 6464 audio level.
    pub audio_level: Option<i8>,
    /// The RTP payload.
    pub payload: std::sync::Arc<[u8]>,
}
