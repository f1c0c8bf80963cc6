//! The tokio glue: one worker thread per shard, each with its own current-thread runtime, its
//! own UDP socket on the shared port (`SO_REUSEPORT`) and its own [`Shard`]. A worker reads
//! datagrams in batches (`recvmmsg`), takes commands, messages from other shards and ICE-TCP
//! frames from its input channel, hands all of it and the time to its shard, then sends what
//! the shard transmits (`sendmmsg`; TCP frames to their connection) and delivers its messages
//! to the other workers' channels. Nothing on the packet path takes a lock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use str0m::net::{Protocol, Transmit};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::shard::{Shard, ShardMessage, ShardSetup};
use crate::udp::{MediaSocket, bind_group};
use crate::{Command, MediaConfig, Placement, SfuError, SfuEvent, SfuHandle, tcp};

/// Inputs a worker takes from its channel besides datagrams.
pub(crate) enum Input {
    /// From signalling, through the [`SfuHandle`].
    Command(Command),
    /// From another worker's shard.
    Message(ShardMessage),
    /// An ICE-TCP connection this worker owns: where its frames go.
    TcpOpen {
        remote: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    /// One RFC 4571 frame of such a connection.
    TcpFrame { remote: SocketAddr, data: Vec<u8> },
    /// The connection closed.
    TcpClosed { remote: SocketAddr },
    /// Stop the worker.
    Shutdown,
}

/// Inputs handled per loop turn before the shard flushes (bounds the latency a burst of
/// messages can add to the socket's datagrams).
const INPUT_BATCH: usize = 256;

/// The running media plane's workers; [`MediaTask::stop`] ends them.
#[derive(Debug)]
pub struct MediaTask {
    workers: Vec<JoinHandle<()>>,
    inputs: Arc<[mpsc::UnboundedSender<Input>]>,
    tcp: Option<tokio::task::JoinHandle<()>>,
}

impl MediaTask {
    /// Stop every worker and the ICE-TCP listener, and wait for the workers to end.
    pub async fn stop(self) {
        if let Some(tcp) = self.tcp {
            tcp.abort();
        }
        for input in self.inputs.iter() {
            let _ = input.send(Input::Shutdown);
        }
        let workers = self.workers;
        let _ = tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
        })
        .await;
    }
}

/// How many OS-chosen ports [`bind_udp_and_tcp`] tries before it gives up.
const PORT_ATTEMPTS: usize = 32;

/// Bind the UDP group on `addr` and, with `ice_tcp`, a TCP listener on the same port number.
///
/// With port 0 the OS picks a free UDP port, but that number may be taken for TCP (by a
/// listener, or as the local port of an outgoing connection). Then another port is tried;
/// the rejected UDP sockets stay bound until the end, so the OS cannot offer the same port
/// again. A configured port is tried once.
fn bind_udp_and_tcp(
    addr: SocketAddr,
    count: usize,
    ice_tcp: bool,
) -> std::io::Result<(Vec<std::net::UdpSocket>, Option<std::net::TcpListener>)> {
    let mut rejected = Vec::new();
    loop {
        let sockets = bind_group(addr, count)?;
        if !ice_tcp {
            return Ok((sockets, None));
        }
        let bound = match sockets.first() {
            Some(first) => first.local_addr()?,
            None => return Ok((sockets, None)),
        };
        match std::net::TcpListener::bind(bound) {
            Ok(listener) => return Ok((sockets, Some(listener))),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && addr.port() == 0
                    && rejected.len() + 1 < PORT_ATTEMPTS =>
            {
                debug!(
                    port = bound.port(),
                    "the media port is taken for TCP; trying another"
                );
                rejected.push(sockets);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Bind the media sockets (and the ICE-TCP listener) and start one worker per shard.
/// Events go to `events`. Must be called inside a tokio runtime (ICE-TCP runs on it).
pub async fn spawn(
    config: MediaConfig,
    events: mpsc::UnboundedSender<SfuEvent>,
) -> Result<(SfuHandle, MediaTask), SfuError> {
    let count = match config.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(crate::shard::MAX_SHARDS);
    let bind_err = |addr, source| SfuError::Bind { addr, source };
    let (sockets, tcp_listener) = bind_udp_and_tcp(config.bind, count, config.ice_tcp)
        .map_err(|e| bind_err(config.bind, e))?;
    let local_addr = sockets
        .first()
        .map(|s| s.local_addr())
        .transpose()
        .map_err(|e| bind_err(config.bind, e))?
        .ok_or(SfuError::Unavailable)?;
    let announced = if config.public_addresses.is_empty() {
        vec![local_addr]
    } else {
        config.public_addresses.clone()
    };
    let mut udp_candidates = Vec::new();
    for mut addr in announced {
        if addr.port() == 0 {
            addr.set_port(local_addr.port());
        }
        if addr.ip().is_unspecified() {
            return Err(SfuError::InvalidPublicAddress(addr));
        }
        udp_candidates.push(addr);
    }

    // ICE-TCP listens on the same port number as UDP and is announced at the same addresses.
    let (tcp_listener, tcp_addr) = match tcp_listener {
        Some(listener) => {
            let listener = listener
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(listener))
                .map_err(|e| bind_err(local_addr, e))?;
            (Some(listener), Some(local_addr))
        }
        None => (None, None),
    };
    let tcp_candidates = match tcp_addr {
        Some(_) => udp_candidates.clone(),
        None => Vec::new(),
    };
    let mut setup = ShardSetup::new(
        count,
        local_addr,
        udp_candidates,
        tcp_candidates,
        config.slots,
        config.router,
    )?;
    setup.bandwidth_estimation = config.bandwidth_estimation;
    setup.flush_coalesce = config.flush_coalesce;
    setup.set_start_estimate(config.start_estimate)?;
    setup.relay_sink = config.relay_sink.clone();
    let udp_offload = config.udp_offload;

    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..count).map(|_| mpsc::unbounded_channel()).unzip();
    let inputs: Arc<[mpsc::UnboundedSender<Input>]> = senders.into();
    let mut workers = Vec::with_capacity(count);
    for (id, (socket, rx)) in sockets.into_iter().zip(receivers).enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| bind_err(local_addr, e))?;
        let shard = Shard::new(id, setup.clone(), events.clone());
        let peers = inputs.clone();
        let worker = std::thread::Builder::new()
            .name(format!("plenum-media-{id}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match MediaSocket::from_std(socket, crate::udp::BATCH, udp_offload) {
                        Ok(socket) => run(shard, socket, rx, peers).await,
                        Err(e) => warn!(shard = id, "media socket unusable: {e}"),
                    }
                })
            })
            .map_err(|e| bind_err(local_addr, e))?;
        workers.push(worker);
    }
    let tcp = tcp_listener.map(|l| tokio::spawn(tcp::serve(l, inputs.clone())));
    info!(
        %local_addr,
        workers = count,
        ice_tcp = tcp_addr.is_some(),
        "media plane running"
    );
    let handle = SfuHandle {
        inputs: inputs.clone(),
        placement: Arc::new(Mutex::new(Placement::new(count))),
        local_addr,
        tcp_addr,
    };
    Ok((
        handle,
        MediaTask {
            workers,
            inputs,
            tcp,
        },
    ))
}

async fn run(
    mut shard: Shard,
    mut socket: MediaSocket,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    peers: Arc<[mpsc::UnboundedSender<Input>]>,
) {
    let mut out: Vec<Transmit> = Vec::new();
    let mut messages: Vec<(usize, ShardMessage)> = Vec::new();
    let mut tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let udp_sent = metrics::counter!("plenum_media_udp_sent_total");
    let tcp_sent = metrics::counter!("plenum_media_tcp_sent_total");
    let tcp_dropped = metrics::counter!("plenum_media_tcp_dropped_total");
    // This worker's share of a core: time from waking to going back to sleep.
    let busy = metrics::counter!(
        "plenum_media_shard_busy_microseconds_total",
        "shard" => shard.id().to_string()
    );
    debug!(shard = shard.id(), "media worker running");
    loop {
        let deadline = shard.poll_timeout(Instant::now());
        let woke;
        tokio::select! {
            input = inputs.recv() => {
                woke = Instant::now();
                let Some(input) = input else { break };
                // What else is waiting, up to a bound, before the shard flushes once.
                let mut batch = std::iter::once(input)
                    .chain(std::iter::from_fn(|| inputs.try_recv().ok()))
                    .take(1 + INPUT_BATCH);
                if !batch.all(|input| handle_input(&mut shard, &mut tcp, input)) {
                    break;
                }
            },
            res = socket.readable() => match res {
                Ok(()) => {
                    let now = Instant::now();
                    woke = now;
                    match socket.try_recv_batch(|source, data| {
                        shard.handle_datagram(now, Protocol::Udp, source, data);
                    }) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => debug!("udp receive error: {e}"),
                    }
                }
                Err(e) => {
                    woke = Instant::now();
                    debug!("udp receive error: {e}");
                }
            },
            _ = tokio::time::sleep_until(deadline.into()) => woke = Instant::now(),
        }
        shard.handle_timeout(Instant::now());
        shard.take_transmits(&mut out);
        // ICE-TCP transmits go to their connection, the rest out of the socket in batches.
        out.retain(|t| {
            if t.proto == Protocol::Udp {
                return true;
            }
            let sent = tcp
                .get(&t.destination)
                .and_then(|w| tcp::frame(&t.contents).map(|f| w.try_send(f).is_ok()));
            match sent {
                Some(true) => tcp_sent.increment(1),
                _ => tcp_dropped.increment(1),
            }
            false
        });
        let dropped = socket.send_all(&out);
        udp_sent.increment((out.len() - dropped) as u64);
        if dropped > 0 {
            metrics::counter!("plenum_media_send_dropped_total").increment(dropped as u64);
        }
        out.clear();
        shard.take_messages(&mut messages);
        for (to, msg) in messages.drain(..) {
            if let Some(peer) = peers.get(to) {
                let _ = peer.send(Input::Message(msg));
            }
        }
        busy.increment(woke.elapsed().as_micros() as u64);
    }
    debug!(shard = shard.id(), "media worker stopped");
}

/// Returns false when the worker is to stop.
fn handle_input(
    shard: &mut Shard,
    tcp: &mut HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    input: Input,
) -> bool {
    let now = Instant::now();
    match input {
        Input::Command(cmd) => handle_command(shard, cmd),
        Input::Message(msg) => shard.handle_message(now, msg),
        Input::TcpOpen { remote, writer } => {
            tcp.insert(remote, writer);
        }
        Input::TcpFrame { remote, data } => {
            shard.handle_datagram(now, Protocol::Tcp, remote, &data)
        }
        Input::TcpClosed { remote } => {
            tcp.remove(&remote);
        }
        Input::Shutdown => return false,
    }
    true
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
        Command::AddRelay {
            relay,
            room,
            layout,
            widths,
        } => shard.add_relay(now, relay, room, layout, &widths),
        Command::RelayKeyframe { relay, slot } => shard.relay_keyframe_request(now, relay, slot),
        Command::AddMirror {
            mirror,
            room,
            kinds,
        } => shard.add_mirror(now, mirror, room, &kinds),
        Command::RemoveRelay { peer } => shard.remove_relay(now, peer),
        Command::Inject(packet) => shard.inject(now, *packet),
    }
}
