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
    /// Logs the limit (info), why it could not be raised, and whether `max_connections`
    /// sockets fit in it (warnings).
    pub fn log(&self, max_connections: usize) {
        let show = |l: Option<u64>| l.map_or_else(|| "unlimited".to_owned(), |l| l.to_string());
        match self.error {
            None => tracing::info!("file descriptor limit: {}", show(self.now)),
            Some(e) => tracing::warn!(
                "file descriptor limit: {} (could not raise it to the hard limit: {e})",
                show(self.now)
            ),
        }
        if let Some(limit) = self.now {
            if max_connections as u64 > limit {
                tracing::warn!(
                    "max_connections ({max_connections}) is above the file descriptor limit \
                     ({limit}): accepts will fail before it is reached; raise the limit \
                     (ulimit -n, LimitNOFILE=) or lower --max-connections"
                );
            }
        }
    }
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
}
