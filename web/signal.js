// The WebSocket side of docs/protocol.md: commands with ids, one answer per command, events.
//
// Use: `const s = new Signal(url, {onEvent, onClose})`, `await s.open()`, then
// `await s.request('join', {...})` resolves with the answer's `result` or rejects with a
// ProtocolError carrying the error `code`. onClose(closing) is called once when the socket
// ends, with the `closing` event that preceded it (or null when the connection just broke).

export const PROTOCOL_VERSION = 1;
const REQUEST_TIMEOUT_MS = 15_000;
const PING_INTERVAL_MS = 25_000;

export class ProtocolError extends Error {
  /** `reason`: with code `plugin_error`, the plugin's own code (e.g. `rate_limited`). */
  constructor(code, message = code, reason = null) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

export function signalUrl(loc = location) {
  return `${loc.protocol === 'http:' ? 'ws:' : 'wss:'}//${loc.host}/ws`;
}

export class Signal {
  constructor(url, { onEvent = () => {}, onClose = () => {}, onStrayError = () => {} } = {}) {
    this.url = url;
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.onStrayError = onStrayError;
    this.nextId = 1;
    this.pending = new Map();
    this.closing = null;
    this.closed = false;
    this.ws = null;
    this.pingTimer = null;
  }

  /** Resolves when the socket is open; rejects with code `connection_failed` otherwise. */
  open() {
    return new Promise((resolve, reject) => {
      let opened = false;
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch {
        reject(new ProtocolError('connection_failed'));
        return;
      }
      this.ws = ws;
      ws.addEventListener('open', () => {
        opened = true;
        this.pingTimer = setInterval(() => {
          this.request('ping').catch(() => {});
        }, PING_INTERVAL_MS);
        resolve();
      });
      ws.addEventListener('message', (ev) => this.handleMessage(ev.data));
      ws.addEventListener('close', () => {
        if (!opened) reject(new ProtocolError('connection_failed'));
        this.handleClose();
      });
      // 'error' is always followed by 'close'; nothing to do here.
    });
  }

  handleMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.warn('plenum: frame that is not JSON from the server');
      return;
    }
    if (msg && typeof msg.event === 'string') {
      if (msg.event === 'closing') this.closing = msg;
      this.onEvent(msg);
      return;
    }
    if (msg && 'id' in msg && 'ok' in msg) {
      const waiter = this.pending.get(msg.id);
      if (!waiter) {
        // An answer to nothing we wait for (e.g. `id: null` for a frame the server could not read).
        if (!msg.ok) this.onStrayError(msg.error?.code ?? 'unknown');
        return;
      }
      this.pending.delete(msg.id);
      clearTimeout(waiter.timer);
      if (msg.ok) waiter.resolve(msg.result ?? {});
      else waiter.reject(new ProtocolError(msg.error?.code ?? 'unknown', msg.error?.message, msg.error?.reason ?? null));
      return;
    }
    console.warn('plenum: unexpected frame from the server', msg);
  }

  handleClose() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    const code = this.closing ? 'connection_closed' : 'connection_lost';
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new ProtocolError(code));
    }
    this.pending.clear();
    this.onClose(this.closing);
  }

  /** Sends command `cmd` with `args`; resolves with the result, rejects with a ProtocolError. */
  request(cmd, args = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ProtocolError('connection_lost'));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError('timeout'));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ id, cmd, ...args }));
    });
  }

  close() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}
