//! TLS on the one listener: `https://` and `wss://` with a certificate and key read from
//! PEM files, re-read on `SIGHUP` for new handshakes.
//!
//! rustls with its `ring` provider; ALPN offers `http/1.1` only (the listener speaks
//! HTTP/1.1, the WebSocket upgrade included). The handshake is bounded by its own timeout
//! and by the socket's hello deadline, whichever comes first, so a peer that opens a TCP
//! connection and never handshakes is closed (its socket counted until then, like any
//! other). A plain-HTTP request gets a `400` that says to use `https://` instead of a TLS
//! alert the browser shows as garbage.
//!
//! ```no_run
//! use std::path::Path;
//! use fastport_server::tls::Tls;
//!
//! let tls = Tls::load(Path::new("cert.pem"), Path::new("key.pem"))?;
//! // ... on SIGHUP:
//! if let Err(e) = tls.reload() {
//!     eprintln!("keeping the old certificate: {e}");
//! }
//! # Ok::<(), fastport_server::tls::TlsError>(())
//! ```

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::server::Counted;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The body of the answer to a client that speaks plain HTTP to the TLS port.
const PLAIN_HTTP_BODY: &str = "this port speaks TLS: use https:// or wss://\n";

/// Why a certificate or key cannot be used. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file holds no usable PEM of its kind.
    #[error("{} is not a PEM {what}: {message}", path.display())]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// rustls refused the pair: the key does not belong to the certificate, or is of a
    /// kind it does not support.
    #[error("the private key {} does not fit the certificate {}: {message}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        message: String,
    },
}

/// The server's TLS state: the files it was configured with and the current
/// configuration, which [`Tls::reload`] replaces for new handshakes. Its `Debug` shows the
/// file names only, never the key.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads and checks the certificate chain and its private key (PEM).
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let config = server_config(cert, key)?;
        Ok(Tls {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(config),
        })
    }

    /// Reads the files again; new handshakes use them, connections already open keep
    /// theirs. On an error the previous certificate stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// Completes the server side of a handshake within `timeout` and by `deadline`,
    /// whichever comes first (the socket's hello deadline: a handshake cannot hold a
    /// counted socket past it). `None` when the peer did not (it spoke plain HTTP, which
    /// gets a `400` first, sent garbage, went silent, or left); the reason is logged at
    /// debug level.
    pub(crate) async fn accept(
        &self,
        stream: Counted<TcpStream>,
        peer: SocketAddr,
        timeout: Duration,
        deadline: Instant,
    ) -> Option<TlsStream<Counted<TcpStream>>> {
        let config = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let own = Instant::now() + timeout;
        match tokio::time::timeout_at(own.min(deadline), handshake(stream, config)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(%peer, "TLS handshake failed: {e}");
                None
            }
            Err(_) if own <= deadline => {
                tracing::debug!(%peer, "TLS handshake not completed in {timeout:?}");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake not completed within the hello timeout");
                None
            }
        }
    }
}

async fn handshake(
    mut stream: Counted<TcpStream>,
    config: Arc<ServerConfig>,
) -> io::Result<TlsStream<Counted<TcpStream>>> {
    let mut first = [0u8; 1];
    if stream.get_ref().peek(&mut first).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        // A plain-HTTP client: say so in its own language (best effort), then close. Its
        // request is read first: closing a socket with unread data resets it, and the
        // reset could destroy the answer before the client reads it.
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request).await;
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{PLAIN_HTTP_BODY}",
            PLAIN_HTTP_BODY.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "plain HTTP on the TLS port",
        ));
    }
    TlsAcceptor::from(config).accept(stream).await
}

fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_chain(cert)?;
    let private = read_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mismatch = |message: String| TlsError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        message,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    const WHAT: &str = "certificate";
    let pem = read(path, WHAT)?;
    let invalid = |message: String| TlsError::Pem {
        what: WHAT,
        path: path.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if chain.is_empty() {
        return Err(invalid("no `BEGIN CERTIFICATE` block".into()));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    const WHAT: &str = "private key";
    let pem = read(path, WHAT)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        what: WHAT,
        path: path.to_owned(),
        message: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no `BEGIN PRIVATE KEY` (PKCS#8, PKCS#1 or SEC1) block".into()
            }
            other => other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use fastport_harness::Pki;

    use super::*;

    #[test]
    fn debug_shows_the_files_and_never_the_key() {
        let pki = Pki::new();
        let tls = Tls::load(&pki.cert_file(), &pki.key_file()).expect("a valid pair");
        let debug = format!("{tls:?}");
        assert!(debug.contains("key.pem"), "{debug}");
        let key = std::fs::read_to_string(pki.key_file()).expect("the key");
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!debug.contains(&body[..16]), "{debug}");
    }

    #[test]
    fn a_failed_reload_names_the_file_and_a_good_one_succeeds() {
        let mut pki = Pki::new();
        let tls = Tls::load(&pki.cert_file(), &pki.key_file()).expect("a valid pair");
        pki.renew();
        tls.reload().expect("the renewed pair");
        std::fs::write(pki.key_file(), "-----BEGIN PRIVATE KEY-----\n").expect("write");
        let e = tls.reload().expect_err("a broken key");
        assert!(e.to_string().contains("key.pem"), "{e}");
    }
}
