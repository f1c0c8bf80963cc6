//! The tokio glue: one UDP socket, one task, one [`Shard`]. Reads datagrams in batches
//! (`recvmmsg`), hands them and commands and time to the shard, and sends what it
//! transmits in batches (`sendmmsg`).

use std::time::Instant;

use str0m::net::Transmit;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::shard::Shard;
use crate::udp::MediaSocket;
use crate::{Command, MediaConfig, SfuError, SfuEvent, SfuHandle};

/// Bind the media socket and start the media task. Events go to `events`; the task ends
/// when every [`SfuHandle`] is dropped.
pub async fn spawn(
    config: MediaConfig,
    events: mpsc::UnboundedSender<SfuEvent>,
) -> Result<(SfuHandle, JoinHandle<()>), SfuError> {
    let bind_err = |source| SfuError::Bind {
        addr: config.bind,
        source,
    };
    let socket = MediaSocket::bind(config.bind).map_err(bind_err)?;
    let local_addr = socket.local_addr().map_err(bind_err)?;
    let announced = if config.public_addresses.is_empty() {
        vec![local_addr]
    } else {
        config.public_addresses.clone()
    };
    let mut candidates = Vec::new();
    for mut addr in announced {
        if addr.port() == 0 {
            addr.set_port(local_addr.port());
        }
        if addr.ip().is_unspecified() {
            return Err(SfuError::InvalidPublicAddress(addr));
        }
        candidates.push(addr);
    }
    let shard = Shard::new(local_addr, candidates, config.slots, config.router, events)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(shard, socket, rx));
    Ok((
        SfuHandle {
            commands: tx,
            local_addr,
        },
        task,
    ))
}

async fn run(
    mut shard: Shard,
    mut socket: MediaSocket,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut out: Vec<Transmit> = Vec::new();
    info!(addr = ?socket.local_addr().ok(), "media plane running");
    loop {
        let deadline = shard.poll_timeout(Instant::now());
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => handle_command(&mut shard, cmd),
                None => break,
            },
            res = socket.readable() => match res {
                Ok(()) => {
                    let now = Instant::now();
                    match socket.try_recv_batch(|source, data| {
                        shard.handle_datagram(now, source, data);
                    }) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => debug!("udp receive error: {e}"),
                    }
                }
                Err(e) => debug!("udp receive error: {e}"),
            },
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
        shard.handle_timeout(Instant::now());
        shard.take_transmits(&mut out);
        let dropped = socket.send_all(&out);
        if dropped > 0 {
            metrics::counter!("plenum_media_send_dropped_total").increment(dropped as u64);
        }
        out.clear();
    }
    info!("media plane stopped");
}

fn handle_command(shard: &mut Shard, cmd: Command) {
    let now = Instant::now();
    match cmd {
        Command::Connect {
            peer,
            room,
            offer,
            reply,
        } => {
            let result = shard.connect(now, peer, room, &offer);
            if reply.send(result).is_err() {
                // The asking connection went away meanwhile.
                shard.disconnect(now, peer);
            }
        }
        Command::Disconnect { peer } => shard.disconnect(now, peer),
        Command::SetPublishing { peer, kind, on } => shard.set_publishing(now, peer, kind, on),
        Command::SetMuted { peer, muted } => shard.set_muted(now, peer, muted),
        Command::SetAudioAllowed { peer, allowed } => shard.set_audio_allowed(now, peer, allowed),
        Command::SetSlotWidth { peer, mid, width } => shard.set_slot_width(now, peer, &mid, width),
        Command::SetStagePin { room, peer } => shard.set_stage_pin(now, room, peer),
    }
}
