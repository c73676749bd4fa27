//! A test PKI made at run time: a certificate authority, a server certificate for
//! `localhost` and `127.0.0.1` and a client certificate (mutual TLS) signed by it, as PEM
//! files in a temp dir, and an https client that trusts that authority.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use rustls::pki_types::{CertificateDer, ServerName};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::temp::TempDir;

/// A CA and a server certificate it signed, written as `ca.pem`, `cert.pem` and `key.pem`,
/// and a client certificate it signed (for mutual TLS), `client.pem` and `client-key.pem`.
///
/// ```no_run
/// use fastport_harness::{Launch, Pki};
///
/// # async fn example() {
/// let pki = Pki::new();
/// let server = Launch::new().tls(&pki).start().await;
/// let url = server.url(); // wss://127.0.0.1:PORT/ws
/// let (status, body) = pki.https_get(server.addr(), "/healthz").await;
/// assert_eq!((status, body.as_str()), (200, "ok\n"));
/// # drop(url);
/// # }
/// ```
#[derive(Debug)]
pub struct Pki {
    dir: TempDir,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_spki: Vec<u8>,
    renewals: u32,
}

/// The host name the server certificate is for (besides `127.0.0.1`).
pub const SERVER_NAME: &str = "localhost";

impl Pki {
    /// A fresh CA and a server certificate for `localhost` and `127.0.0.1`.
    pub fn new() -> Pki {
        let dir = TempDir::new();
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fastPort test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("self-sign the CA");
        dir.write("ca.pem", ca.pem().as_bytes());
        let mut pki = Pki {
            dir,
            ca_params,
            ca_key,
            ca_der: ca.der().clone(),
            server_der: ca.der().clone(),
            server_spki: Vec::new(),
            renewals: 0,
        };
        pki.renew();
        pki.issue_client();
        pki
    }

    /// Issues the client certificate (`fastPort test client`, for client authentication)
    /// and writes it as `client.pem` and `client-key.pem`.
    fn issue_client(&self) {
        let key = KeyPair::generate().expect("generate the client key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, "fastPort test client");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params
            .signed_by(&key, &issuer)
            .expect("sign the client cert");
        self.dir.write("client.pem", cert.pem().as_bytes());
        self.dir
            .write("client-key.pem", key.serialize_pem().as_bytes());
    }

    /// Issues a new server certificate with a new key and writes it over `cert.pem` and
    /// `key.pem` (a server reloads them on SIGHUP); returns the new certificate.
    pub fn renew(&mut self) -> CertificateDer<'static> {
        self.renewals += 1;
        let key = KeyPair::generate().expect("generate the server key");
        let names = vec![SERVER_NAME.to_owned(), "127.0.0.1".to_owned()];
        let mut params = CertificateParams::new(names).expect("server params");
        params.distinguished_name.push(
            DnType::CommonName,
            format!("fastPort test server #{}", self.renewals),
        );
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params
            .signed_by(&key, &issuer)
            .expect("sign the server cert");
        self.dir.write("cert.pem", cert.pem().as_bytes());
        self.dir.write("key.pem", key.serialize_pem().as_bytes());
        self.server_der = cert.der().clone();
        self.server_spki = key.subject_public_key_info();
        self.server_der.clone()
    }

    /// The CA certificate (PEM): what clients pass as `--ca-file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server certificate (PEM): `--tls-cert`.
    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The server's private key (PEM): `--tls-key`.
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// The client certificate (PEM), signed by the CA for client authentication: what a
    /// client presents to a server that asks for one (mutual TLS).
    pub fn client_cert_file(&self) -> PathBuf {
        self.dir.path().join("client.pem")
    }

    /// The client certificate's private key (PEM).
    pub fn client_key_file(&self) -> PathBuf {
        self.dir.path().join("client-key.pem")
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The current server certificate (DER).
    pub fn server_cert(&self) -> CertificateDer<'static> {
        self.server_der.clone()
    }

    /// The base64 SHA-256 of the current server certificate's public key (its
    /// SubjectPublicKeyInfo): Chromium's `--ignore-certificate-errors-spki-list` entry.
    pub fn server_spki_sha256(&self) -> String {
        let digest = sha2::Sha256::digest(&self.server_spki);
        base64::engine::general_purpose::STANDARD.encode(digest)
    }

    /// A rustls client configuration that trusts this CA only.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("the CA is valid");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Opens a TLS connection to `addr` for `localhost`, trusting this CA; panics if the
    /// handshake fails. Returns the stream and the certificate the server presented.
    pub async fn connect(
        &self,
        addr: std::net::SocketAddr,
    ) -> (
        tokio_rustls::client::TlsStream<TcpStream>,
        CertificateDer<'static>,
    ) {
        let tcp = TcpStream::connect(addr).await.expect("TCP connect");
        let connector = tokio_rustls::TlsConnector::from(self.client_config());
        let name = ServerName::try_from(SERVER_NAME).expect("a valid name");
        let stream = connector
            .connect(name, tcp)
            .await
            .unwrap_or_else(|e| panic!("TLS handshake with {addr}: {e}"));
        let presented = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .expect("the server presents a certificate")
            .clone()
            .into_owned();
        (stream, presented)
    }

    /// `GET path` over https (HTTP/1.1, `Connection: close`): the status code and the body.
    pub async fn https_get(&self, addr: std::net::SocketAddr, path: &str) -> (u16, String) {
        self.https(addr, "GET", path, &[], "").await
    }

    /// One request over https on a fresh connection (`Connection: close`; a body is sent
    /// as `application/json`): the status code and the body.
    pub async fn https(
        &self,
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let (mut stream, _) = self.connect(addr).await;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {SERVER_NAME}:{}\r\nConnection: close\r\n",
            addr.port()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the request");
        let mut response = Vec::new();
        // A server may end a `Connection: close` response without a TLS close_notify:
        // what was read counts.
        let _ = stream.read_to_end(&mut response).await;
        parse_response(&String::from_utf8_lossy(&response))
    }
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}

/// The status and body of an HTTP/1.1 response with a `Content-Length` (or none, read to
/// the end).
fn parse_response(response: &str) -> (u16, String) {
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, body.to_owned())
}
