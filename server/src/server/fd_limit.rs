//! The file descriptor limit: every socket costs one, so the server raises its soft limit
//! to the hard one at startup (the soft limit is often 1024 while the hard one allows far
//! more).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The open-file limit after [`raise`]. `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit before.
    pub before: Option<u64>,
    /// The soft limit in force now.
    pub now: Option<u64>,
    /// Why it could not be raised, if it could not.
    pub error: Option<rustix::io::Errno>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit where the system allows it.
pub fn raise() -> FdLimit {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    if limit.current == limit.maximum {
        return FdLimit {
            before,
            now: before,
            error: None,
        };
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => FdLimit {
            before,
            now: getrlimit(Resource::Nofile).current,
            error: None,
        },
        Err(e) => FdLimit {
            before,
            now: before,
            error: Some(e),
        },
    }
}

impl FdLimit {
    /// Logs the limit (info), or why it could not be raised (warning).
    pub fn log(&self) {
        match self.error {
            None => tracing::info!("file descriptor limit: {}", show(self.now)),
            Some(e) => tracing::warn!(
                "file descriptor limit: {} (could not raise it to the hard limit: {e})",
                show(self.now)
            ),
        }
    }
}

/// Descriptors kept for everything but client sockets: the listener, the runtime, the log,
/// static files being read.
pub(crate) const RESERVED: u64 = 64;

/// The most sockets the server lets in: `max_connections`, or fewer if the current
/// open-file limit would run out first (then with a warning). A socket refused at the cap
/// is closed at once; a socket the system refuses stays queued, and nobody gets in.
pub(crate) fn socket_cap(max_connections: usize) -> usize {
    let limit = getrlimit(Resource::Nofile).current;
    let cap = cap_within(max_connections, limit);
    if cap < max_connections {
        tracing::warn!(
            "max_connections lowered from {max_connections} to {cap}: the file descriptor limit \
             is {} ({RESERVED} kept for the server itself); raise it (ulimit -n, \
             LimitNOFILE=) to allow more",
            show(limit)
        );
    }
    cap
}

fn cap_within(max_connections: usize, limit: Option<u64>) -> usize {
    let Some(limit) = limit else {
        return max_connections;
    };
    let room = usize::try_from(limit.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
    max_connections.min(room.max(1))
}

fn show(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |l| l.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let limit = raise();
        assert_eq!(limit.error, None);
        assert_eq!(limit.now, getrlimit(Resource::Nofile).maximum);
        assert_eq!(raise().now, limit.now, "raising again changes nothing");
    }

    #[test]
    fn the_socket_cap_leaves_room_for_the_server_within_the_limit() {
        assert_eq!(cap_within(100_000, Some(1024)), 1024 - RESERVED as usize);
        assert_eq!(cap_within(500, Some(1024)), 500);
        assert_eq!(cap_within(100_000, None), 100_000);
        assert_eq!(
            cap_within(100, Some(10)),
            1,
            "never 0: the server still serves"
        );
    }
}
