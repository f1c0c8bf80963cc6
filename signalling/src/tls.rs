//! HTTPS certificates: configured files, or a self-signed one created on first start.

use std::path::{Path, PathBuf};

/// Certificate problems at start-up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a PEM file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Generating the self-signed certificate failed.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Make sure `cert` and `key` exist. Missing ones are created as a self-signed pair for
/// `hosts` (names and IP addresses); existing ones are kept. Returns whether it created them.
pub fn ensure_self_signed(cert: &Path, key: &Path, hosts: &[String]) -> Result<bool, TlsError> {
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    let generated = rcgen::generate_simple_self_signed(hosts.to_vec())?;
    for path in [cert, key] {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
    }
    write_private(key, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert, generated.cert.pem()).map_err(|source| TlsError::Io {
        path: cert.to_owned(),
        source,
    })?;
    Ok(true)
}

/// Write a file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_then_keeps() {
        let dir = std::env::temp_dir().join(format!("plenum-tls-{}", std::process::id()));
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        assert!(ensure_self_signed(&cert, &key, &hosts).unwrap());
        let first = std::fs::read(&cert).unwrap();
        assert!(!ensure_self_signed(&cert, &key, &hosts).unwrap());
        assert_eq!(std::fs::read(&cert).unwrap(), first);
        let mode = std::fs::metadata(&key).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
