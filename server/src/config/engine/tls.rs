//! The files of the Redis engine's TLS connections (`rediss://`): a private CA and a client
//! certificate for mutual TLS, read and checked when the configuration is loaded.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The largest PEM file the Redis engine reads (`ca`, `cert`, `key`): room for any CA
/// bundle (Debian's of every public root is about 220 KB), and a bound on what a wrong path
/// (a device, a huge file) makes the server read.
pub const MAX_PEM_BYTES: u64 = 1 << 20;

/// The key of `--redis-ca` in errors.
const CA_KEY: &str = "redis ca (--redis-ca, FASTPORT_REDIS_CA, [redis] ca)";
/// The key of `--redis-cert` in errors.
const CERT_KEY: &str = "redis cert (--redis-cert, FASTPORT_REDIS_CERT, [redis] cert)";
/// The key of `--redis-key` in errors.
const KEY_KEY: &str = "redis key (--redis-key, FASTPORT_REDIS_KEY, [redis] key)";

/// How the Redis engine's TLS connections (`rediss://`) check Redis and present themselves,
/// read from PEM files when the configuration is loaded (a later change of the files takes
/// a restart):
///
/// - a CA (`[redis] ca`): Redis's certificate must chain to one of its certificates, which
///   replace the public roots (a private CA, a self-signed Redis, a cloud's internal CA);
/// - a client certificate and its key (`[redis] cert`, `[redis] key`): presented to a Redis
///   that asks for one (`tls-auth-clients yes`), mutual TLS.
///
/// Its `Debug` names the files, never their content.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTls {
    ca: Option<PemFile>,
    identity: Option<(PemFile, PemFile)>,
}

/// A PEM file as read: its path (for messages) and its bytes.
#[derive(Clone, PartialEq, Eq)]
struct PemFile {
    path: PathBuf,
    pem: Vec<u8>,
}

impl RedisTls {
    /// Reads and checks the files: `Ok(None)` when none is given. The CA must hold at least
    /// one certificate, each a usable trust anchor; the client certificate a chain (its own
    /// certificate first) and the key a private key (PKCS#8, PKCS#1 or SEC1) that belongs
    /// to it, the one without the other being an error. The error is the key (with its flag,
    /// environment variable and file key) and the message, which names the file.
    pub(in crate::config) fn load(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Option<RedisTls>, (String, String)> {
        let ca = ca
            .map(read_ca)
            .transpose()
            .map_err(|m| (CA_KEY.to_owned(), m))?;
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(read_identity(cert, key)?),
            (Some(_), None) => {
                let message = "a client certificate needs its private key too (--redis-key)";
                return Err((KEY_KEY.to_owned(), message.to_owned()));
            }
            (None, Some(_)) => {
                let message = "a private key needs its client certificate too (--redis-cert)";
                return Err((CERT_KEY.to_owned(), message.to_owned()));
            }
        };
        if ca.is_none() && identity.is_none() {
            return Ok(None);
        }
        Ok(Some(RedisTls { ca, identity }))
    }

    /// The CA file, if one was given.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_ref().map(|f| f.path.as_path())
    }

    /// The client certificate and key files, if they were given.
    pub fn client_files(&self) -> Option<(&Path, &Path)> {
        self.identity
            .as_ref()
            .map(|(cert, key)| (cert.path.as_path(), key.path.as_path()))
    }

    /// The files' content as the Redis client takes it (`Client::build_with_tls`,
    /// `ClusterClientBuilder::certs`).
    pub fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .identity
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.pem.clone(),
                    client_key: key.pem.clone(),
                }),
            root_cert: self.ca.as_ref().map(|ca| ca.pem.clone()),
        }
    }

    /// The key of the first file given: the one an error about all of them names.
    pub(in crate::config) fn first_key(&self) -> &'static str {
        if self.ca.is_some() {
            CA_KEY
        } else {
            CERT_KEY
        }
    }
}

impl fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTls")
            .field("ca", &self.ca_file())
            .field("client", &self.client_files())
            .finish()
    }
}

/// Reads `path`: a regular file (never a device or a pipe, which could block or never end)
/// of at most [`MAX_PEM_BYTES`].
fn read(path: &Path) -> Result<PemFile, String> {
    let shown = path.display();
    let cannot = |e: std::io::Error| format!("cannot read {shown}: {e}");
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        return Err(format!("cannot read {shown}: not a regular file"));
    }
    let too_big = || format!("{shown} is larger than {MAX_PEM_BYTES} bytes: not a PEM file");
    if metadata.len() > MAX_PEM_BYTES {
        return Err(too_big());
    }
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_PEM_BYTES + 1).read_to_end(&mut pem))
        .map_err(cannot)?;
    if pem.len() as u64 > MAX_PEM_BYTES {
        return Err(too_big());
    }
    Ok(PemFile {
        path: path.to_owned(),
        pem,
    })
}

/// The certificates of a PEM file, at least one.
fn certificates(file: &PemFile) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = file.path.display();
    let certs = CertificateDer::pem_slice_iter(&file.pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown} is not a PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{shown} is not a PEM certificate: no `BEGIN CERTIFICATE` block"
        ));
    }
    Ok(certs)
}

fn read_ca(path: &Path) -> Result<PemFile, String> {
    let file = read(path)?;
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certificates(&file)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            let shown = path.display();
            format!("{shown}: certificate {} is not a usable CA: {e}", i + 1)
        })?;
    }
    Ok(file)
}

fn read_identity(cert: &Path, key: &Path) -> Result<(PemFile, PemFile), (String, String)> {
    let cert_file = read(cert).map_err(|m| (CERT_KEY.to_owned(), m))?;
    let chain = certificates(&cert_file).map_err(|m| (CERT_KEY.to_owned(), m))?;
    let key_file = read(key).map_err(|m| (KEY_KEY.to_owned(), m))?;
    let private = PrivateKeyDer::from_pem_slice(&key_file.pem).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no `BEGIN PRIVATE KEY` (PKCS#8, PKCS#1 or SEC1) block".to_owned()
            }
            other => other.to_string(),
        };
        let message = format!("{} is not a PEM private key: {why}", key.display());
        (KEY_KEY.to_owned(), message)
    })?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, private, &provider).map_err(|e| {
        let message = format!(
            "{} does not fit the client certificate {}: {e}",
            key.display(),
            cert.display()
        );
        (KEY_KEY.to_owned(), message)
    })?;
    Ok((cert_file, key_file))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;
    use fastport_harness::{Pki, TempDir};

    use crate::config::{Cli, Config, RedisConfig};

    fn load(toml: &str, args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["fastport-server"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).expect("a valid command line");
        Config::with_file_text(cli, toml).map_err(|e| e.to_string())
    }

    fn path(p: &Path) -> &str {
        p.to_str().expect("a UTF-8 temp path")
    }

    #[test]
    fn the_ca_and_the_client_certificate_come_from_the_flags_or_the_file() {
        let pki = Pki::new();
        let ca = path(&pki.ca_file()).to_owned();
        let toml = format!(
            "[redis]\nurl = \"rediss://:s3cret@127.0.0.1:6380/0\"\nca = \"{ca}\"\n\
             cert = \"{}\"\nkey = \"{}\"\n",
            path(&pki.client_cert_file()),
            path(&pki.client_key_file())
        );
        let config = load(&toml, &[]).expect("valid");
        let Some(RedisConfig::Single(url)) = &config.redis else {
            panic!("one Redis: {:?}", config.redis);
        };
        let tls = url.tls().expect("the TLS files");
        assert_eq!(tls.ca_file(), Some(pki.ca_file().as_path()));
        let client = (pki.client_cert_file(), pki.client_key_file());
        assert_eq!(
            tls.client_files(),
            Some((client.0.as_path(), client.1.as_path()))
        );
        let certificates = tls.certificates();
        let ca_pem = std::fs::read(pki.ca_file()).expect("the CA");
        assert_eq!(certificates.root_cert.as_deref(), Some(&ca_pem[..]));
        assert!(certificates.client_tls.is_some());
        let debug = format!("{config:?}");
        assert!(
            debug.contains("ca.pem") && debug.contains("client-key.pem"),
            "{debug}"
        );
        assert!(
            !debug.contains("PRIVATE KEY") && !debug.contains("s3cret"),
            "{debug}"
        );

        // The flag overrides the file; without a client certificate there is none.
        let other = Pki::new();
        let config = load(
            "[redis]\nurl = \"rediss://cache.example:6380\"\n",
            &["--redis-ca", path(&other.ca_file())],
        )
        .expect("valid");
        let Some(RedisConfig::Single(url)) = &config.redis else {
            panic!("one Redis: {:?}", config.redis);
        };
        let tls = url.tls().expect("the CA");
        assert_eq!(tls.ca_file(), Some(other.ca_file().as_path()));
        assert_eq!(tls.client_files(), None);

        // Every seed of a cluster has them.
        let toml = format!(
            "[redis]\ncluster = [\"rediss://10.0.0.1:7000\", \"rediss://10.0.0.2:7000\"]\n\
             ca = \"{ca}\"\n"
        );
        let config = load(&toml, &[]).expect("valid");
        let Some(RedisConfig::Cluster(seeds)) = &config.redis else {
            panic!("a cluster: {:?}", config.redis);
        };
        assert!(seeds.iter().all(|s| s.tls().is_some()), "{seeds:?}");

        // Without the files, a rediss:// URL has none (the public roots).
        let config = load("", &["--redis", "rediss://cache.example:6380"]).expect("valid");
        let Some(RedisConfig::Single(url)) = &config.redis else {
            panic!("one Redis: {:?}", config.redis);
        };
        assert!(url.is_tls() && url.tls().is_none());
    }

    #[test]
    fn an_unusable_pem_file_is_refused_naming_the_key_and_the_file() {
        let pki = Pki::new();
        let dir = TempDir::new();
        let missing = dir.path().join("missing.pem");
        let not_pem = dir.write("not.pem", b"hello\n");
        let broken = dir.write(
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        );
        let huge = dir.write("huge.pem", &vec![b'x'; super::MAX_PEM_BYTES as usize + 1]);
        let (ca, cert, key) = (pki.ca_file(), pki.client_cert_file(), pki.client_key_file());
        let server_key = pki.key_file();
        let url = "rediss://127.0.0.1:6380/0";
        const CA: &str = "redis ca (--redis-ca, FASTPORT_REDIS_CA, [redis] ca): ";
        const CERT: &str = "redis cert (--redis-cert, FASTPORT_REDIS_CERT, [redis] cert): ";
        const KEY: &str = "redis key (--redis-key, FASTPORT_REDIS_KEY, [redis] key): ";
        let cases: Vec<(Vec<&str>, &str, &Path, &str)> = vec![
            (
                vec!["--redis-ca", path(&missing)],
                CA,
                &missing,
                "cannot read",
            ),
            (
                vec!["--redis-ca", path(dir.path())],
                CA,
                dir.path(),
                "not a regular file",
            ),
            (
                vec!["--redis-ca", path(&not_pem)],
                CA,
                &not_pem,
                "not a PEM certificate",
            ),
            (
                vec!["--redis-ca", path(&broken)],
                CA,
                &broken,
                "not a PEM certificate",
            ),
            (
                vec!["--redis-ca", path(&key)],
                CA,
                &key,
                "not a PEM certificate",
            ),
            (
                vec!["--redis-ca", path(&huge)],
                CA,
                &huge,
                "larger than 1048576 bytes",
            ),
            (
                vec!["--redis-cert", path(&missing), "--redis-key", path(&key)],
                CERT,
                &missing,
                "cannot read",
            ),
            (
                vec!["--redis-cert", path(&cert), "--redis-key", path(&ca)],
                KEY,
                &ca,
                "not a PEM private key",
            ),
            (
                vec![
                    "--redis-cert",
                    path(&cert),
                    "--redis-key",
                    path(&server_key),
                ],
                KEY,
                &server_key,
                "does not fit the client certificate",
            ),
        ];
        for (args, key_name, file, why) in cases {
            let mut all = vec!["--redis", url];
            all.extend(&args);
            let error = load("", &all).expect_err(why);
            assert!(error.starts_with(key_name), "{args:?}: {error}");
            assert!(error.contains(path(file)), "{args:?}: {error}");
            assert!(error.contains(why), "{args:?}: {error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
        // One of the pair without the other.
        let error = load("", &["--redis", url, "--redis-cert", path(&cert)]).expect_err("no key");
        assert!(
            error.starts_with(KEY) && error.contains("needs its private key"),
            "{error}"
        );
        let error = load("", &["--redis", url, "--redis-key", path(&key)]).expect_err("no cert");
        assert!(error.starts_with(CERT), "{error}");
        // The file's keys are checked alike.
        let toml = format!("[redis]\nurl = \"{url}\"\nca = \"{}\"\n", path(&not_pem));
        let error = load(&toml, &[]).expect_err("not a PEM");
        assert!(
            error.starts_with(CA) && error.contains(path(&not_pem)),
            "{error}"
        );
    }

    #[test]
    fn the_files_need_a_rediss_url_and_a_redis_at_all() {
        let pki = Pki::new();
        let ca = path(&pki.ca_file()).to_owned();
        let error = load(
            "",
            &[
                "--redis",
                "redis://:s3cret@127.0.0.1:6379/0",
                "--redis-ca",
                &ca,
            ],
        )
        .expect_err("plain TCP");
        assert!(error.starts_with("redis ca (--redis-ca"), "{error}");
        assert!(
            error.contains("redis://:***@127.0.0.1:6379/0 is plain TCP")
                && error.contains("rediss://"),
            "{error}"
        );
        assert!(!error.contains("s3cret"), "{error}");

        let toml = format!(
            "[redis]\ncluster = [\"rediss://10.0.0.1:7000\", \"redis://10.0.0.2:7000\"]\n\
             cert = \"{}\"\nkey = \"{}\"\n",
            path(&pki.client_cert_file()),
            path(&pki.client_key_file())
        );
        let error = load(&toml, &[]).expect_err("a plain seed");
        assert!(error.starts_with("redis cert (--redis-cert"), "{error}");
        assert!(
            error.contains("redis://10.0.0.2:7000 is plain TCP"),
            "{error}"
        );

        let error = load("", &["--redis-ca", &ca]).expect_err("no Redis");
        assert!(error.starts_with("redis ca (--redis-ca"), "{error}");
        assert!(error.contains("no Redis is configured"), "{error}");
    }
}
