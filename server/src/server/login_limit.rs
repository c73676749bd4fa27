//! The bytes a connection may send before it is welcomed.
//!
//! Before the `Welcome` only a `Hello` is expected, and a `Hello` with a password of at most
//! 1 KiB is far below 4 KiB. [`LoginLimit`] sits between the socket and everything else
//! (tungstenite included) and reads at most [`BEFORE_LOGIN`] bytes until it is opened; more
//! is refused with [`TooLargeBeforeLogin`], which the connection answers with
//! `credential_too_large`. So nobody can make the server buffer a large message, or hash a
//! large password, without logging in first.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// The largest first message, in bytes.
pub(crate) const FIRST_MESSAGE: usize = 4 * 1024;
/// Bytes read from the socket before the welcome: the first message and its WebSocket
/// frame header (at most 14 bytes).
pub(crate) const BEFORE_LOGIN: usize = FIRST_MESSAGE + 14;

/// The read error once more than [`BEFORE_LOGIN`] bytes came before the welcome.
#[derive(Debug, thiserror::Error)]
#[error("more than {FIRST_MESSAGE} bytes before the welcome")]
pub(crate) struct TooLargeBeforeLogin;

impl TooLargeBeforeLogin {
    /// Whether `e` is this error.
    pub(crate) fn is(e: &io::Error) -> bool {
        e.get_ref()
            .is_some_and(|inner| inner.is::<TooLargeBeforeLogin>())
    }
}

/// A socket that reads at most [`BEFORE_LOGIN`] bytes until its gate is opened.
#[derive(Debug)]
pub(crate) struct LoginLimit<S> {
    inner: S,
    read: usize,
    open: Arc<AtomicBool>,
}

impl<S> LoginLimit<S> {
    /// Wraps `inner`; `open` lifts the limit once set.
    pub(crate) fn new(inner: S, open: Arc<AtomicBool>) -> Self {
        LoginLimit {
            inner,
            read: 0,
            open,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LoginLimit<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.open.load(Ordering::Acquire) {
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        let budget = BEFORE_LOGIN - this.read;
        if budget == 0 {
            return Poll::Ready(Err(io::Error::other(TooLargeBeforeLogin)));
        }
        // Read no further than the budget, so the socket keeps the rest.
        let mut chunk = [0u8; BEFORE_LOGIN];
        let wanted = budget.min(out.remaining());
        let mut limited = ReadBuf::new(&mut chunk[..wanted]);
        match Pin::new(&mut this.inner).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                let got = limited.filled();
                this.read += got.len();
                out.put_slice(got);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

forward_async_write!(LoginLimit);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_stop_at_the_limit_until_the_gate_opens() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let open = Arc::new(AtomicBool::new(false));
        let mut limited = LoginLimit::new(server, open.clone());
        client
            .write_all(&vec![7u8; 3 * BEFORE_LOGIN])
            .await
            .expect("write");
        let mut got = vec![0u8; BEFORE_LOGIN];
        limited
            .read_exact(&mut got)
            .await
            .expect("within the limit");
        let mut more = [0u8; 1];
        let e = limited.read(&mut more).await.expect_err("over the limit");
        assert!(TooLargeBeforeLogin::is(&e), "{e}");
        open.store(true, Ordering::Release);
        let mut rest = vec![0u8; 2 * BEFORE_LOGIN];
        limited
            .read_exact(&mut rest)
            .await
            .expect("the gate is open");
    }
}
