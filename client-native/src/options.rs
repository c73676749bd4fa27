//! Connection options.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fastport_client_core::client::{BackoffConfig, ClientConfig, PublishRetryConfig};
use fastport_client_core::crypto::{Key, KeyId, Keyring};
use fastport_client_core::names::{ClientId, DisplayName, SessionName};
use fastport_client_core::topic::TopicFilter;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Error;

/// How to connect: server, session, identity, keys, and retry behaviour. Built with
/// [`Options::new`] and the chained setters.
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) core: ClientConfig,
    pub(crate) ws_config: WebSocketConfig,
    /// Certificate authorities added to the public roots for `wss://`.
    pub(crate) extra_roots: Vec<CertificateDer<'static>>,
}

impl Options {
    /// A client of `session` at `url` (`ws://HOST:PORT/ws`) with its password; several
    /// servers to fail over between with [`Options::urls`].
    pub fn new(url: &str, session: &str, password: &str) -> Result<Options, Error> {
        check_url(url)?;
        let session = SessionName::new(session)?;
        Ok(Options::from_config(ClientConfig::new(
            url, session, password,
        )))
    }

    /// An admin-only connection (no session): for [`crate::Client::admin`].
    pub fn admin(url: &str) -> Result<Options, Error> {
        check_url(url)?;
        Ok(Options::from_config(ClientConfig::admin(url)))
    }

    /// An admin-only connection that logs in with the secret key of `session`, or with the
    /// admin token when `session` is `None` (see `ClientConfig::admin_with`).
    pub fn admin_with(
        url: &str,
        session: Option<&str>,
        credential: &str,
    ) -> Result<Options, Error> {
        check_url(url)?;
        let session = session.map(SessionName::new).transpose()?;
        Ok(Options::from_config(ClientConfig::admin_with(
            url, session, credential,
        )))
    }

    /// Fails over between several servers: replaces the server URL(s) with `urls`, tried
    /// in turn (round robin) from the first. A failed attempt or a lost connection moves
    /// the client to the next URL after the backoff's delay, which grows once per full
    /// round of the list; the client re-subscribes and resends unacknowledged publishes on
    /// the new server. [`crate::Client::connect`] fails only once every URL failed its
    /// first attempt. Fails with [`Error::Url`] on the first URL that is not a `ws://` or
    /// `wss://` URL, or on an empty list.
    ///
    /// ```
    /// # fn main() -> Result<(), fastport_client::Error> {
    /// let options = fastport_client::Options::new("ws://10.0.0.1:8080/ws", "demo", "demo")?
    ///     .urls(["ws://10.0.0.1:8080/ws", "ws://10.0.0.2:8080/ws"])?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn urls<I>(mut self, urls: I) -> Result<Options, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut list = Vec::new();
        for url in urls {
            check_url(url.as_ref())?;
            list.push(url.as_ref().to_owned());
        }
        if list.is_empty() {
            return Err(Error::Url(String::new()));
        }
        self.core.urls = list;
        Ok(self)
    }

    fn from_config(core: ClientConfig) -> Options {
        let mut ws_config = WebSocketConfig::default();
        ws_config.max_message_size = Some(32 * 1024 * 1024);
        Options {
            core,
            ws_config,
            extra_roots: Vec::new(),
        }
    }

    /// Trusts the CA certificates of the PEM file at `path` for `wss://`, besides the
    /// public roots (Mozilla's, built in): for a server whose certificate a private CA
    /// signed. Fails with [`Error::CaFile`] if the file cannot be read or holds no
    /// certificate.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Result<Options, Error> {
        let path = path.as_ref();
        let ca_error = |reason: String| Error::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ca_error(format!("not a PEM certificate file: {e}")))?;
        if certs.is_empty() {
            return Err(ca_error("no `BEGIN CERTIFICATE` block".into()));
        }
        // Checked now, so that a certificate rustls cannot use fails here, not at connect.
        let mut roots = rustls::RootCertStore::empty();
        for cert in &certs {
            roots
                .add(cert.clone())
                .map_err(|e| ca_error(format!("unusable CA certificate: {e}")))?;
        }
        self.extra_roots.extend(certs);
        Ok(self)
    }

    /// A stable client id (needed for `resume`).
    pub fn client_id(mut self, id: &str) -> Result<Options, Error> {
        self.core.client_id = Some(ClientId::new(id)?);
        Ok(self)
    }

    /// The name others see in presence.
    pub fn display_name(mut self, name: &str) -> Result<Options, Error> {
        self.core.display_name = Some(DisplayName::new(name)?);
        Ok(self)
    }

    /// The resume token an earlier run of this client id got ([`Client::resume_token`]).
    /// Needed to take up a client id the server still holds a connection or resumable state
    /// for; within one run the client keeps it by itself.
    ///
    /// [`Client::resume_token`]: crate::Client::resume_token
    pub fn resume_token(mut self, token: &str) -> Options {
        token.clone_into(&mut self.core.resume_token);
        self
    }

    /// Keep subscriptions and pending messages on the server while offline.
    pub fn resume(mut self, resume: bool) -> Options {
        self.core.resume = resume;
        self
    }

    /// The default key (key id empty).
    pub fn key(self, key: Key) -> Options {
        self.keyring(Keyring::new(KeyId::default(), key))
    }

    /// The default keyring (rotation: the newest seals, all open).
    pub fn keyring(mut self, ring: Keyring) -> Options {
        self.core.keys.set_default(ring);
        self
    }

    /// A keyring for topics matching `filter` (a private channel).
    pub fn topic_keyring(mut self, filter: &str, ring: Keyring) -> Result<Options, Error> {
        self.core
            .keys
            .set_for_filter(TopicFilter::new(filter)?, ring);
        Ok(self)
    }

    /// Accept deliveries published as plaintext.
    pub fn accept_plaintext(mut self, accept: bool) -> Options {
        self.core.accept_plaintext = accept;
        self
    }

    /// Ping interval (default 10 s) and how long a ping may go unanswered (default 5 s).
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Options {
        self.core.keepalive = interval;
        self.core.ping_timeout = timeout;
        self
    }

    /// Reconnection backoff.
    pub fn backoff(mut self, backoff: BackoffConfig) -> Options {
        self.core.backoff = backoff;
        self
    }

    /// Client-side publish retries.
    pub fn publish_retry(mut self, retry: PublishRetryConfig) -> Options {
        self.core.publish_retry = retry;
        self
    }

    /// Bounds of the outbox of unacked publishes.
    pub fn outbox(mut self, max_messages: usize, max_bytes: usize) -> Options {
        self.core.outbox_max_messages = max_messages;
        self.core.outbox_max_bytes = max_bytes;
        self
    }
}

fn check_url(url: &str) -> Result<(), Error> {
    let ok = (url.starts_with("ws://") || url.starts_with("wss://")) && url.len() > 6;
    if ok {
        Ok(())
    } else {
        Err(Error::Url(url.to_owned()))
    }
}

impl Options {
    /// The TLS configuration of `wss://`: Mozilla's roots and the added CAs, rustls with
    /// its `ring` provider, ALPN `http/1.1`.
    pub(crate) fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        // `ca_file` checked each of them.
        let (_, _) = roots.add_parsable_certificates(self.extra_roots.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .unwrap_or_else(|_| unreachable!("ring supports rustls's default versions"));
        let mut config = builder.with_root_certificates(roots).with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}
