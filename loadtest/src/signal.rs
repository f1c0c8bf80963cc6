//! A client of the signalling protocol, version 1 (docs/protocol.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Failures of the signalling client.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// Connecting or talking failed.
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server's certificate could not be read.
    #[error("certificate: {0}")]
    Cert(String),
    /// The server answered with an error.
    #[error("{code}: {message}")]
    Server {
        /// Protocol error code.
        code: String,
        /// Explanation.
        message: String,
    },
    /// The connection ended before the answer.
    #[error("connection closed")]
    Closed,
    /// No answer within the request timeout.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
}

/// Answers awaited by id; `None` once the connection has ended.
type Pending = Arc<Mutex<Option<HashMap<u64, oneshot::Sender<Value>>>>>;

/// How long a command waits for its answer.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A connected signalling client.
#[derive(Debug)]
pub struct SignalClient {
    tx: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: AtomicU64,
    /// Server events (`{"event": ...}` objects), in arrival order.
    pub events: mpsc::UnboundedReceiver<Value>,
}

impl SignalClient {
    /// Connect to `base_url` (`https://host:port` or `http://…`), sending `origin` as the
    /// Origin header. `ca_pem` is the certificate to trust (the server's self-signed one).
    pub async fn connect(
        base_url: &str,
        origin: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, SignalError> {
        let ws_url = format!(
            "{}/ws",
            base_url
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1)
        );
        let mut request = ws_url.into_client_request()?;
        request.headers_mut().insert(
            "Origin",
            HeaderValue::from_str(origin).map_err(|e| SignalError::Cert(e.to_string()))?,
        );
        let connector = match ca_pem {
            Some(pem) => {
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| SignalError::Cert(e.to_string()))?;
                    roots
                        .add(cert)
                        .map_err(|e| SignalError::Cert(e.to_string()))?;
                }
                let config = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Some(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
            }
            None => None,
        };
        let (ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector)
                .await?;
        let (mut sink, mut stream) = ws.split();
        let (tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let pending2 = pending.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                if v.get("event").is_some() {
                    let _ = ev_tx.send(v);
                } else if let Some(id) = v.get("id").and_then(Value::as_u64) {
                    let reply = pending2.lock().await.as_mut().and_then(|p| p.remove(&id));
                    if let Some(reply) = reply {
                        let _ = reply.send(v);
                    }
                } else {
                    // An answer without id (unparseable frame): surface as an event.
                    let _ = ev_tx.send(v);
                }
            }
            // Dropping the senders fails every waiting request; later ones see `None`.
            *pending2.lock().await = None;
        });
        Ok(Self {
            tx,
            pending,
            next_id: AtomicU64::new(1),
            events,
        })
    }

    /// Send a command (`{"cmd": .., ...args}`) and wait for its answer's `result`.
    pub async fn request(&self, cmd: &str, args: Value) -> Result<Value, SignalError> {
        let answer = self.request_raw(cmd, args).await?;
        if answer["ok"] == json!(true) {
            Ok(answer["result"].clone())
        } else {
            Err(SignalError::Server {
                code: answer["error"]["code"].as_str().unwrap_or("?").to_owned(),
                message: answer["error"]["message"].as_str().unwrap_or("").to_owned(),
            })
        }
    }

    /// Send a command and return the whole answer envelope.
    pub async fn request_raw(&self, cmd: &str, args: Value) -> Result<Value, SignalError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = match args {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        msg.insert("id".into(), json!(id));
        msg.insert("cmd".into(), json!(cmd));
        self.request_text(id, Value::Object(msg).to_string()).await
    }

    /// Send a raw text frame whose answer will carry `id`, and wait for that answer (for
    /// protocol tests with frames `request_raw` would not build).
    pub async fn request_text(&self, id: u64, text: String) -> Result<Value, SignalError> {
        let (tx, rx) = oneshot::channel();
        match self.pending.lock().await.as_mut() {
            Some(p) => p.insert(id, tx),
            None => return Err(SignalError::Closed),
        };
        self.send_text(text)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(answer) => answer.map_err(|_| SignalError::Closed),
            Err(_) => Err(SignalError::Timeout(REQUEST_TIMEOUT)),
        }
    }

    /// Send a raw text frame (for protocol tests).
    pub fn send_text(&self, text: String) -> Result<(), SignalError> {
        self.tx
            .send(Message::Text(text.into()))
            .map_err(|_| SignalError::Closed)
    }

    /// Wait for the next event with this name, skipping others (None if the stream ends).
    pub async fn next_event(&mut self, name: &str) -> Option<Value> {
        while let Some(ev) = self.events.recv().await {
            if ev["event"] == name {
                return Some(ev);
            }
        }
        None
    }
}
