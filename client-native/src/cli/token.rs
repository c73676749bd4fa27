//! Where `fastport sub` and `pub` keep the resume token of a `--client-id` between runs, so
//! that a restarted command takes up its client id (and, with `--resume`, its state) again.
//!
//! One file per (server URL, session, client id), named by a hash of the three, in
//! `--state-dir` / `FASTPORT_STATE_DIR`, else `$XDG_STATE_HOME/fastport`, else
//! `~/.local/state/fastport`. The token is a secret: the file is created readable by its
//! owner only.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The token file of one client id.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    /// The file for `client_id` in `session` at `url`; `None` without any state directory
    /// (no `--state-dir`, `XDG_STATE_HOME` or `HOME`).
    pub fn new(dir: Option<&Path>, url: &str, session: &str, client_id: &str) -> Option<Self> {
        let dir = match dir {
            Some(dir) => dir.to_owned(),
            None => default_dir()?,
        };
        let mut digest = Sha256::new();
        for part in [url, session, client_id] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        let hash: String = digest.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(TokenFile {
            path: dir.join(format!("resume-{hash}")),
        })
    }

    /// The token kept by an earlier run, if any (an unreadable file counts as none).
    pub fn read(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let token = text.trim();
        (!token.is_empty()).then(|| token.to_owned())
    }

    /// Keeps `token` (replacing the file atomically, readable by its owner only).
    pub fn write(&self, token: &str) -> io::Result<()> {
        let Some(dir) = self.path.parent() else {
            return Ok(());
        };
        std::fs::create_dir_all(dir)?;
        let partial = self.path.with_extension("partial");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&partial)?;
        writeln!(file, "{token}")?;
        file.sync_all()?;
        std::fs::rename(&partial, &self.path)
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn default_dir() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(state) = non_empty("XDG_STATE_HOME") {
        return Some(PathBuf::from(state).join("fastport"));
    }
    let home = non_empty("HOME")?;
    Some(PathBuf::from(home).join(".local/state/fastport"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_session_and_client_id_has_its_own_file() {
        let dir = Path::new("/state");
        let file = |url, session, id| TokenFile::new(Some(dir), url, session, id).map(|f| f.path);
        let a = file("ws://h/ws", "demo", "c1");
        assert_eq!(a, file("ws://h/ws", "demo", "c1"));
        assert_ne!(a, file("ws://h/ws", "demo", "c2"));
        assert_ne!(a, file("ws://h/ws", "other", "c1"));
        assert_ne!(a, file("ws://g/ws", "demo", "c1"));
        // Lengths are part of the hash: moving a byte between parts changes the file.
        assert_ne!(file("ab", "c", "d"), file("a", "bc", "d"));
        let a = a.expect("a file");
        assert!(a.starts_with(dir), "{a:?}");
    }

    #[test]
    fn a_written_token_is_read_back_and_only_its_owner_can_read_it() {
        let dir = std::env::temp_dir().join(format!("fastport-token-test-{}", std::process::id()));
        let file = TokenFile::new(Some(&dir), "ws://h/ws", "demo", "c1").expect("a file");
        assert_eq!(file.read(), None);
        file.write("0f1e2d3c").expect("write");
        assert_eq!(file.read().as_deref(), Some("0f1e2d3c"));
        file.write("replaced").expect("write");
        assert_eq!(file.read().as_deref(), Some("replaced"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file.path())
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        }
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
