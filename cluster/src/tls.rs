//! Identity and trust between nodes: mutual TLS 1.3 with certificates signed by one cluster CA.
//!
//! Every node (origin or edge) has a certificate for its node name, signed by the cluster CA,
//! with both the `serverAuth` and `clientAuth` extended key usages (any node may be an origin
//! or an edge). A node accepts only peers whose certificate chains to the CA file it was given;
//! the origin also requires that the name an edge gives in its `Hello` is one its certificate is
//! issued for, and the edge checks the origin's certificate against the name it dials.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::ClusterError;

/// The ALPN protocol both sides require (TLS refuses a peer without it).
pub const ALPN: &[u8] = b"plenum-cluster/1";

/// The subject (common name) of CAs made by [`generate_ca`]; [`ClusterCa::from_pem`] assumes it.
pub const CA_COMMON_NAME: &str = "Plenum cluster CA";

/// A node's TLS material, all PEM: the cluster CA certificate(s) it trusts, its own certificate
/// (chain) and its private key.
#[derive(Clone)]
pub struct NodeTls {
    /// The cluster CA certificate(s) (several during a CA rotation): the only trust anchors.
    pub ca_pem: Vec<u8>,
    /// This node's certificate, optionally followed by intermediates.
    pub cert_pem: Vec<u8>,
    /// This node's private key (PKCS#8, SEC1 or PKCS#1).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl NodeTls {
    /// Read the three PEM files (the CA certificate(s), this node's certificate and key) and
    /// check that they parse.
    pub fn from_files(ca: &Path, cert: &Path, key: &Path) -> Result<Self, ClusterError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| ClusterError::Io {
                path: path.to_owned(),
                source,
            })
        };
        let tls = NodeTls {
            ca_pem: read(ca)?,
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        };
        tls.validate()?;
        Ok(tls)
    }

    /// Write the three files (the key readable by its owner only), creating parent folders.
    pub fn write_files(&self, ca: &Path, cert: &Path, key: &Path) -> Result<(), ClusterError> {
        write_file(ca, &self.ca_pem, false)?;
        write_file(cert, &self.cert_pem, false)?;
        write_file(key, &self.key_pem, true)
    }

    /// Check that the CA, certificate and key parse (and that there is at least one of each).
    pub fn validate(&self) -> Result<(), ClusterError> {
        self.root_store()?;
        self.cert_chain()?;
        self.private_key()?;
        Ok(())
    }

    pub(crate) fn cert_chain(&self) -> Result<Vec<CertificateDer<'static>>, ClusterError> {
        parse_certs(&self.cert_pem, "node certificate")
    }

    pub(crate) fn private_key(&self) -> Result<PrivateKeyDer<'static>, ClusterError> {
        PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| ClusterError::Pem(format!("node key: {e}")))
    }

    pub(crate) fn root_store(&self) -> Result<RootCertStore, ClusterError> {
        let mut roots = RootCertStore::empty();
        for cert in parse_certs(&self.ca_pem, "CA certificate")? {
            roots
                .add(cert)
                .map_err(|e| ClusterError::Pem(format!("CA certificate: {e}")))?;
        }
        Ok(roots)
    }

    /// The rustls configuration of an origin: TLS 1.3 only, ALPN [`ALPN`], a client
    /// certificate chaining to the CA required.
    pub(crate) fn server_crypto(&self) -> Result<rustls::ServerConfig, ClusterError> {
        let provider = provider();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.root_store()?),
            provider.clone(),
        )
        .build()
        .map_err(|e| ClusterError::Tls(e.to_string()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.cert_chain()?, self.private_key()?)
            .map_err(tls_err)?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(config)
    }

    /// The rustls configuration of an edge: TLS 1.3 only, ALPN [`ALPN`], the CA as the only
    /// root, this node's certificate as client certificate, no session resumption (every
    /// connection is a full handshake with both certificates checked).
    pub(crate) fn client_crypto(&self) -> Result<rustls::ClientConfig, ClusterError> {
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .with_root_certificates(self.root_store()?)
            .with_client_auth_cert(self.cert_chain()?, self.private_key()?)
            .map_err(tls_err)?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        Ok(config)
    }
}

fn tls_err(e: rustls::Error) -> ClusterError {
    ClusterError::Tls(e.to_string())
}

/// The crypto provider of the workspace's rustls (aws-lc-rs): no second crypto stack.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, ClusterError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClusterError::Pem(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(ClusterError::Pem(format!("{what}: no certificate found")));
    }
    Ok(certs)
}

fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), ClusterError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| ClusterError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Whether the end-entity certificate `cert` is issued for `name` (a DNS name or an IP address
/// in its subject alternative names). The chain itself was already checked by the handshake.
pub(crate) fn cert_valid_for_name(cert: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(server_name) = ServerName::try_from(name) else {
        return false;
    };
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    ee.verify_is_valid_for_subject_name(&server_name).is_ok()
}

/// A cluster certificate authority: its certificate and its signing key.
pub struct ClusterCa {
    cert_pem: String,
    key: KeyPair,
    params: CertificateParams,
}

impl std::fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCa")
            .field("cert_pem", &self.cert_pem)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

impl ClusterCa {
    /// A fresh CA (ECDSA P-256, subject CN [`CA_COMMON_NAME`], may sign node certificates only).
    pub fn generate() -> Result<Self, ClusterError> {
        let key = KeyPair::generate()?;
        let params = ca_params();
        let cert = params.self_signed(&key)?;
        Ok(ClusterCa {
            cert_pem: cert.pem(),
            key,
            params,
        })
    }

    /// A CA made by [`ClusterCa::generate`] (e.g. by earlier tooling), from its PEM files.
    /// Certificates it issues are checked against `cert_pem`: a CA with another subject is
    /// refused there (make node certificates for such a CA with its own tooling).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, ClusterError> {
        parse_certs(cert_pem.as_bytes(), "CA certificate")?;
        Ok(ClusterCa {
            cert_pem: cert_pem.to_owned(),
            key: KeyPair::from_pem(key_pem)?,
            params: ca_params(),
        })
    }

    /// The CA certificate, PEM: what every node gets as its `ca_pem`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM: keep it off the nodes.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A certificate and key for the node `node_name` (a DNS-style name such as `edge-1` or
    /// `origin.example.org`, or an IP address), signed by this CA, for both roles.
    pub fn issue(&self, node_name: &str) -> Result<NodeTls, ClusterError> {
        if ServerName::try_from(node_name).is_err() {
            return Err(ClusterError::Tls(format!(
                "{node_name:?} is not a valid node name (a DNS name or an IP address)"
            )));
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![node_name.to_owned()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, node_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        let tls = NodeTls {
            ca_pem: self.cert_pem.clone().into_bytes(),
            cert_pem: cert.pem().into_bytes(),
            key_pem: key.serialize_pem().into_bytes(),
        };
        // The certificate must chain to this CA for `node_name` (it does not if the CA
        // certificate's subject is not the one `generate` makes).
        let roots = Arc::new(tls.root_store()?);
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| ClusterError::Tls(e.to_string()))?;
        let name = ServerName::try_from(node_name.to_owned())
            .map_err(|e| ClusterError::Tls(e.to_string()))?;
        verifier
            .verify_server_cert(cert.der(), &[], &name, &[], UnixTime::now())
            .map_err(|e| ClusterError::Tls(format!("issued certificate does not verify: {e}")))?;
        Ok(tls)
    }
}

/// A fresh cluster CA (see [`ClusterCa::generate`]).
pub fn generate_ca() -> Result<ClusterCa, ClusterError> {
    ClusterCa::generate()
}

/// A node certificate for `node_name` signed by `ca` (see [`ClusterCa::issue`]).
pub fn issue_node_cert(ca: &ClusterCa, node_name: &str) -> Result<NodeTls, ClusterError> {
    ca.issue(node_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_bad_files_are_typed_errors() {
        let dir = std::env::temp_dir().join(format!("plenum-cluster-tls-{}", std::process::id()));
        let ca = generate_ca().unwrap();
        let tls = issue_node_cert(&ca, "edge-1").unwrap();
        let (c, n, k) = (
            dir.join("ca.pem"),
            dir.join("n/node.pem"),
            dir.join("n/node.key"),
        );
        tls.write_files(&c, &n, &k).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&k).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = NodeTls::from_files(&c, &n, &k).unwrap();
        assert_eq!(back.cert_pem, tls.cert_pem);
        assert!(back.server_crypto().is_ok());
        assert!(back.client_crypto().is_ok());
        assert!(format!("{back:?}").contains("redacted"));
        assert!(!format!("{back:?}").contains("PRIVATE"));

        assert!(matches!(
            NodeTls::from_files(&dir.join("missing.pem"), &n, &k),
            Err(ClusterError::Io { .. })
        ));
        std::fs::write(&k, b"not a key").unwrap();
        assert!(matches!(
            NodeTls::from_files(&c, &n, &k),
            Err(ClusterError::Pem(_))
        ));
        std::fs::write(&c, b"").unwrap();
        assert!(matches!(
            NodeTls::from_files(&c, &n, &k),
            Err(ClusterError::Pem(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reloaded_ca_issues_certificates_that_chain() {
        let ca = generate_ca().unwrap();
        let again = ClusterCa::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
        let tls = again.issue("edge-7.example.org").unwrap();
        assert_eq!(tls.ca_pem, ca.cert_pem().as_bytes());
        let cert = tls.cert_chain().unwrap().remove(0);
        assert!(cert_valid_for_name(&cert, "edge-7.example.org"));
        assert!(!cert_valid_for_name(&cert, "edge-8.example.org"));
        assert!(!cert_valid_for_name(&cert, "not a name"));
        // IP addresses as node names.
        let ip = ca.issue("10.0.0.7").unwrap();
        let cert = ip.cert_chain().unwrap().remove(0);
        assert!(cert_valid_for_name(&cert, "10.0.0.7"));
        // A CA certificate and a key that do not belong together cannot issue.
        let other = generate_ca().unwrap();
        let mixed = ClusterCa::from_pem(other.cert_pem(), &ca.key_pem()).unwrap();
        assert!(mixed.issue("edge-1").is_err());
        assert!(ca.issue("bad name!").is_err());
    }
}
