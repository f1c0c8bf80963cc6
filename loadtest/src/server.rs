//! The server under test: started by the load tester (`--server BIN`) or given by URL; its
//! CPU and memory from `/proc` (when its pid is known), its forwarding counters from
//! `/metrics`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A `plenum serve` started for this run (killed on drop).
#[derive(Debug)]
pub struct SpawnedServer {
    child: Child,
    bin: PathBuf,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// An origin's cluster (QUIC) address, as it printed it.
    pub cluster_addr: Option<std::net::SocketAddr>,
}

impl SpawnedServer {
    /// Start `bin serve` on loopback with a fresh data directory; with `cpus`, under
    /// `taskset -c` on those CPUs only (the process keeps its pid: taskset execs it).
    pub fn start(bin: &Path, bind_ip: &str, cpus: Option<&[usize]>) -> Result<Self, String> {
        Self::start_node(bin, bind_ip, cpus, "", &[])
    }

    /// Like [`SpawnedServer::start`], with `env` added to the server's environment (e.g.
    /// `PLENUM_CLUSTER__*`) and a data directory of its own per `tag` (several servers of
    /// one run: an origin and its edges).
    pub fn start_node(
        bin: &Path,
        bind_ip: &str,
        cpus: Option<&[usize]>,
        tag: &str,
        env: &[(String, String)],
    ) -> Result<Self, String> {
        let suffix = if tag.is_empty() {
            String::new()
        } else {
            format!("-{tag}")
        };
        let data_dir =
            std::env::temp_dir().join(format!("plenum-loadtest-{}{suffix}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
        let mut command = match cpus {
            Some(cpus) => {
                let list: Vec<String> = cpus.iter().map(usize::to_string).collect();
                let mut c = Command::new("taskset");
                c.arg("-c").arg(list.join(",")).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--http-bind", &format!("{bind_ip}:0")])
            .args(["--media-bind", &format!("{bind_ip}:0")])
            .env("PLENUM_LOG__FILTER", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut url = None;
        let mut cluster_addr = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| e.to_string())?;
            if let Some(rest) = line.strip_prefix("plenum: listening on ") {
                url = rest.split_whitespace().next().map(str::to_owned);
                cluster_addr = cluster_origin_addr(rest);
            }
            if line.starts_with("plenum: demo congress created")
                || line.contains("new invite links")
            {
                break;
            }
        }
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the server{suffix} did not say where it listens (see its errors above)"
            ));
        };
        Ok(Self {
            child,
            bin: bin.to_owned(),
            data_dir,
            url,
            cluster_addr,
        })
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The self-signed certificate.
    pub fn ca_pem(&self) -> Result<Vec<u8>, String> {
        std::fs::read(self.data_dir.join("tls/cert.pem")).map_err(|e| e.to_string())
    }

    /// The server's `/metrics` bearer token.
    pub fn metrics_token(&self) -> Result<String, String> {
        std::fs::read_to_string(self.data_dir.join("metrics.token"))
            .map(|t| t.trim().to_owned())
            .map_err(|e| e.to_string())
    }

    /// `count` invite tokens for the demo room.
    pub fn tokens(&self, name: &str, role: &str, count: usize) -> Result<Vec<String>, String> {
        let out = Command::new(&self.bin)
            .arg("invite")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--room", "demo", "--name", name, "--role", role])
            .args(["--count", &count.to_string()])
            .env("PLENUM_LOG__FILTER", "warn")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split("#token=").nth(1))
            .map(str::to_owned)
            .collect())
    }
}

/// The origin's cluster address in the rest of its "listening on" line
/// (`URL (https ADDR, media udp ADDR, cluster origin ADDR)`).
fn cluster_origin_addr(listening: &str) -> Option<std::net::SocketAddr> {
    let rest = listening.split(", cluster origin ").nth(1)?;
    rest.trim_end_matches(')').trim().parse().ok()
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// CPU time (user + system) and resident memory of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// Seconds of CPU used so far.
    pub cpu_secs: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// Read `/proc/<pid>/stat` and `/proc/<pid>/status` (`None` if the process is gone).
pub fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(ProcSample {
        cpu_secs: (utime + stime) / clock_ticks(),
        rss_bytes: rss_kb * 1024,
    })
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The forwarding counters the server exports.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// RTP packets forwarded to subscribers.
    pub forwarded: f64,
    /// Their payload bytes.
    pub forwarded_bytes: f64,
    /// RTP packets received from publishers.
    pub received: f64,
    /// Datagrams sent over ICE-TCP connections.
    pub tcp_sent: f64,
    /// RTP packets an origin relayed to its edges (one per packet and edge).
    pub relayed: f64,
    /// Edges connected to an origin (a gauge).
    pub cluster_edges: f64,
}

/// An HTTP response: status, headers (lower-case names), body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over TLS to `base_url` (trusting `ca_pem`), connection closed after.
pub async fn https_request(
    base_url: &str,
    ca_pem: &[u8],
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    let host_port = base_url
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    let host = host_port
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(&host_port)
        .to_owned();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(&host_port),
    )
    .await
    .map_err(|_| format!("{path}: connect timeout"))?
    .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(body).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    // A close_notify-less end of stream is fine: the server closes after the response.
    let _ = tls.read_to_end(&mut raw).await;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("no HTTP status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    out
}

/// Fetch `/metrics` over HTTPS (trusting `ca_pem`, with the server's metrics `token`) and
/// read the media counters.
pub async fn scrape(base_url: &str, ca_pem: &[u8], token: &str) -> Result<Counters, String> {
    let auth = format!("Bearer {token}");
    let resp = https_request(
        base_url,
        ca_pem,
        "GET",
        "/metrics",
        &[("Authorization", &auth)],
        &[],
    )
    .await?;
    if resp.status != 200 {
        return Err(format!("/metrics answered {}", resp.status));
    }
    Ok(parse_counters(&String::from_utf8_lossy(&resp.body)))
}

/// The counters in a Prometheus text exposition (absent ones are 0).
pub fn parse_counters(body: &str) -> Counters {
    let value = |name: &str| {
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Counters {
        forwarded: value("plenum_media_rtp_forwarded_total"),
        forwarded_bytes: value("plenum_media_rtp_forwarded_bytes_total"),
        received: value("plenum_media_rtp_received_total"),
        tcp_sent: value("plenum_media_tcp_sent_total"),
        relayed: value("plenum_media_rtp_relayed_total"),
        cluster_edges: value("plenum_cluster_edges"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_origins_cluster_address_is_read_from_its_listening_line() {
        let line = "https://127.0.0.1:4431 (https 127.0.0.1:4431, media udp 127.0.0.1:50000 \
                    and tcp, cluster origin 127.0.0.1:7443)";
        assert_eq!(
            cluster_origin_addr(line),
            Some("127.0.0.1:7443".parse().unwrap())
        );
        let edge = "https://127.0.0.1:4432 (https 127.0.0.1:4432, media udp 127.0.0.1:50001, \
                    cluster edge of 127.0.0.1:7443)";
        assert_eq!(cluster_origin_addr(edge), None);
        assert_eq!(
            cluster_origin_addr("https://x (https 127.0.0.1:1, media udp 127.0.0.1:2)"),
            None
        );
    }

    #[test]
    fn metrics_lines_are_read_by_exact_name() {
        let body = "# TYPE plenum_media_rtp_relayed_total counter\n\
                    plenum_media_rtp_relayed_total 42\n\
                    plenum_media_rtp_forwarded_total 7\n\
                    plenum_media_rtp_forwarded_bytes_total 7000\n\
                    plenum_cluster_edges 2\n";
        let c = parse_counters(body);
        assert_eq!(
            (c.relayed, c.forwarded, c.forwarded_bytes, c.cluster_edges),
            (42.0, 7.0, 7000.0, 2.0)
        );
        assert_eq!(c.received, 0.0, "absent: 0");
    }
}
