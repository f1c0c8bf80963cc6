// Camera/microphone capture and the one RTCPeerConnection of a client (docs/protocol.md, `offer`).

/** Simulcast layers of the camera, lowest first; the server expects the rids q, h, f. */
export const SIMULCAST_ENCODINGS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', maxBitrate: 1_500_000 },
];

const ICE_GATHERING_TIMEOUT_MS = 1500;

function videoConstraints(deviceId) {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    width: { ideal: 1280 },
    height: { ideal: 720 },
    frameRate: { ideal: 30 },
  };
}

function audioConstraints(deviceId) {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
  };
}

/** A getUserMedia failure name mapped to an i18n key. */
function failureKey(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'media.denied';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'media.notFound';
    case 'NotReadableError':
    case 'AbortError':
      return 'media.busy';
    default:
      return 'media.failed';
  }
}

/**
 * Starts camera and microphone (the given device ids, or the defaults). When both together
 * fail, tries each alone so a person without a camera can still speak.
 * Returns `{ audio: MediaStreamTrack|null, video: MediaStreamTrack|null, notice: i18nKey|null }`.
 */
export async function captureMedia({ audioDeviceId = null, videoDeviceId = null } = {}) {
  if (!navigator.mediaDevices?.getUserMedia) {
    return { audio: null, video: null, notice: 'media.unsupported' };
  }
  const gum = (constraints) => navigator.mediaDevices.getUserMedia(constraints);
  try {
    const stream = await gum({ audio: audioConstraints(audioDeviceId), video: videoConstraints(videoDeviceId) });
    return { audio: stream.getAudioTracks()[0] ?? null, video: stream.getVideoTracks()[0] ?? null, notice: null };
  } catch (bothError) {
    if (bothError?.name === 'NotAllowedError' || bothError?.name === 'SecurityError') {
      return { audio: null, video: null, notice: failureKey(bothError) };
    }
    let audio = null;
    let video = null;
    try {
      audio = (await gum({ audio: audioConstraints(audioDeviceId) })).getAudioTracks()[0] ?? null;
    } catch {
      // Reported below.
    }
    try {
      video = (await gum({ video: videoConstraints(videoDeviceId) })).getVideoTracks()[0] ?? null;
    } catch {
      // Reported below.
    }
    if (audio && !video) return { audio, video, notice: 'media.noCamera' };
    if (video && !audio) return { audio, video, notice: 'media.noMicrophone' };
    if (audio && video) return { audio, video, notice: null };
    return { audio, video, notice: failureKey(bothError) };
  }
}

/**
 * Starts one device again after the person picked another one in a <select>.
 * Returns `{ track: MediaStreamTrack|null, notice: i18nKey|null }`.
 */
export async function captureKind(kind, deviceId) {
  if (!navigator.mediaDevices?.getUserMedia) return { track: null, notice: 'media.unsupported' };
  try {
    const constraints = kind === 'audio' ? { audio: audioConstraints(deviceId) } : { video: videoConstraints(deviceId) };
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    return { track: (kind === 'audio' ? stream.getAudioTracks() : stream.getVideoTracks())[0] ?? null, notice: null };
  } catch (err) {
    return { track: null, notice: failureKey(err) };
  }
}

/** Cameras and microphones, as `{ cameras: [{deviceId,label}], microphones: [...] }`. */
export async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], microphones: [] };
  const devices = await navigator.mediaDevices.enumerateDevices();
  const pick = (kind) => devices.filter((d) => d.kind === kind && d.deviceId).map((d) => ({ deviceId: d.deviceId, label: d.label }));
  return { cameras: pick('videoinput'), microphones: pick('audioinput') };
}

export function stopTracks(...tracks) {
  for (const track of tracks) track?.stop();
}

/** Reorders the video codecs so that VP8 comes first (the server forwards VP8). */
function preferVp8(transceiver) {
  if (typeof transceiver.setCodecPreferences !== 'function' || !RTCRtpReceiver.getCapabilities) return;
  const codecs = RTCRtpReceiver.getCapabilities('video')?.codecs ?? [];
  const isVp8 = (c) => c.mimeType.toLowerCase() === 'video/vp8';
  const ordered = [...codecs.filter(isVp8), ...codecs.filter((c) => !isVp8(c))];
  if (!ordered.some(isVp8)) return;
  try {
    transceiver.setCodecPreferences(ordered);
  } catch (err) {
    console.warn('plenum: setCodecPreferences failed', err);
  }
}

/**
 * Creates the client's one RTCPeerConnection with the transceivers in protocol order:
 * microphone (sendonly), camera with simulcast (sendonly), stage + tile videos (recvonly),
 * audio slots (recvonly). Returns `{ pc, receivers: { video: [transceiver], audio: [transceiver] } }`.
 */
export function createPeer({ audioTrack, videoTrack, slots, iceServers = [] }) {
  const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
  if (audioTrack) {
    pc.addTransceiver(audioTrack, { direction: 'sendonly' });
  }
  if (videoTrack) {
    const camera = pc.addTransceiver(videoTrack, { direction: 'sendonly', sendEncodings: SIMULCAST_ENCODINGS });
    preferVp8(camera);
  }
  const videoCount = (slots?.stage ?? 0) + (slots?.tiles ?? 0);
  const video = [];
  for (let i = 0; i < videoCount; i++) {
    const tr = pc.addTransceiver('video', { direction: 'recvonly' });
    preferVp8(tr);
    video.push(tr);
  }
  const audio = [];
  for (let i = 0; i < (slots?.audio ?? 0); i++) {
    audio.push(pc.addTransceiver('audio', { direction: 'recvonly' }));
  }
  return { pc, receivers: { video, audio } };
}

/** Sets the local offer and waits (briefly) for ICE gathering; returns the SDP to send. */
export async function makeOffer(pc) {
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((resolve) => {
      const timer = setTimeout(done, ICE_GATHERING_TIMEOUT_MS);
      function done() {
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      }
      function check() {
        if (pc.iceGatheringState === 'complete') done();
      }
      pc.addEventListener('icegatheringstatechange', check);
    });
  }
  return pc.localDescription.sdp;
}

/** The inbound-rtp entry of one receiving transceiver, or null before media arrives. */
export async function inboundStats(transceiver) {
  if (!transceiver) return null;
  const report = await transceiver.receiver.getStats();
  for (const entry of report.values()) {
    if (entry.type === 'inbound-rtp') return entry;
  }
  return null;
}

/** Per-layer outbound-rtp entries of a sending transceiver (for diagnosis). */
export async function outboundStats(sender) {
  if (!sender) return [];
  const report = await sender.getStats();
  const out = [];
  for (const entry of report.values()) {
    if (entry.type === 'outbound-rtp') {
      out.push({
        rid: entry.rid ?? null,
        kind: entry.kind,
        packetsSent: entry.packetsSent ?? 0,
        framesEncoded: entry.framesEncoded ?? 0,
        frameWidth: entry.frameWidth ?? 0,
        active: entry.active ?? true,
      });
    }
  }
  return out.sort((a, b) => String(a.rid).localeCompare(String(b.rid)));
}
