//! A child's output, read to its end in the background.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

/// What a pipe has delivered so far; reading it in the background also keeps the child
/// from blocking on a full pipe.
#[derive(Debug, Clone)]
pub struct Capture {
    bytes: watch::Receiver<Vec<u8>>,
}

impl Capture {
    /// Reads `pipe` until it closes, on a task of the current tokio runtime.
    pub fn spawn(mut pipe: impl AsyncRead + Unpin + Send + 'static) -> Capture {
        let (tx, rx) = watch::channel(Vec::new());
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                match pipe.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => tx.send_modify(|bytes| bytes.extend_from_slice(&buf[..n])),
                }
            }
        });
        Capture { bytes: rx }
    }

    /// The text so far (bytes kept whole until here, so a character split across two reads
    /// is not mangled).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.borrow()).into_owned()
    }

    /// Waits until the text contains `needle` and returns all of it; `None` if the pipe
    /// closed without it.
    pub async fn containing(&self, needle: &str) -> Option<String> {
        let mut bytes = self.bytes.clone();
        let seen = bytes
            .wait_for(|b| String::from_utf8_lossy(b).contains(needle))
            .await
            .ok()?;
        Some(String::from_utf8_lossy(&seen).into_owned())
    }

    /// Waits until the pipe is closed, and returns all of its text.
    pub async fn closed(&self) -> String {
        let mut bytes = self.bytes.clone();
        while bytes.changed().await.is_ok() {}
        self.text()
    }
}
