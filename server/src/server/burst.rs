//! Large socket reads for busy connections without a large buffer on idle ones.
//!
//! tungstenite reads at most its `read_buffer_size` per call, and that buffer is allocated
//! (and zero-filled) for every connection, idle or not: 1 KiB keeps an idle connection small,
//! but a publisher sending 64 KiB at a time would then cost 64 `recvfrom` calls, each with a
//! trip through tokio's readiness machinery. [`BurstRead`] sits between the socket and
//! tungstenite: while reads keep filling tungstenite's buffer it reads [`BURST`] bytes per
//! system call into a buffer of its own and hands them out from memory; as soon as the
//! socket has nothing more to give, that buffer is freed, so an idle connection holds none.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::poll_read_buf;

/// Bytes read per system call while a connection is busy: the first burst reads up to
/// `FIRST_BURST` (a publisher's batch of small messages fits), and a burst that fills its
/// buffer grows it to `BURST`.
pub(crate) const BURST: usize = 64 * 1024;
const FIRST_BURST: usize = 16 * 1024;

/// An [`AsyncRead`] + [`AsyncWrite`] that reads in bursts while its peer keeps sending.
#[derive(Debug)]
pub(crate) struct BurstRead<S> {
    inner: S,
    /// Empty (no allocation) unless bursting: what was read and not yet handed out. Read
    /// into its spare capacity, which is never zero-filled first: a fresh buffer per burst
    /// costs an allocation, not a 64 KiB memset.
    buf: BytesMut,
    /// The capacity of the last burst (`FIRST_BURST`, or `BURST` once one filled it).
    size: usize,
    /// The last read filled the caller's buffer: more is probably waiting.
    busy: bool,
}

impl<S> BurstRead<S> {
    pub(crate) fn new(inner: S) -> Self {
        BurstRead {
            inner,
            buf: BytesMut::new(),
            size: 0,
            busy: false,
        }
    }

    /// Hands out buffered bytes. (The buffer itself is freed in `poll_read`, once it is
    /// drained and the socket is not known to have more.)
    fn copy_out(&mut self, out: &mut ReadBuf<'_>) {
        let n = out.remaining().min(self.buf.len());
        out.put_slice(&self.buf[..n]);
        self.buf.advance(n);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for BurstRead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.buf.is_empty() {
            this.copy_out(out);
            return Poll::Ready(Ok(()));
        }
        if !this.busy || out.remaining() >= BURST {
            // Straight into the caller's buffer: no copy while traffic is light.
            let wanted = out.remaining();
            let before = out.filled().len();
            if Pin::new(&mut this.inner).poll_read(cx, out)?.is_pending() {
                this.buf = BytesMut::new(); // drained: an idle connection keeps no burst buffer
                this.size = 0;
                return Poll::Pending;
            }
            this.busy = wanted > 0 && out.filled().len() - before == wanted;
            return Poll::Ready(Ok(()));
        }
        // The last burst filled its buffer: this one may read up to `BURST`.
        this.size = if this.size == 0 { FIRST_BURST } else { BURST };
        // Empty here: a new buffer (or the drained one's room again) of that size.
        this.buf.reserve(this.size);
        match poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.buf) {
            Poll::Pending => {
                this.buf = BytesMut::new();
                this.size = 0;
                this.busy = false;
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(n)) => {
                this.busy = n >= this.size;
                if n == 0 {
                    this.buf = BytesMut::new(); // end of stream
                    this.size = 0;
                } else if !this.busy {
                    this.size = FIRST_BURST.min(this.size);
                }
                this.copy_out(out);
                Poll::Ready(Ok(()))
            }
        }
    }
}

forward_async_write!(BurstRead);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads everything in `chunk`-byte reads, as tungstenite does.
    async fn read_all<S: AsyncRead + Unpin>(r: &mut BurstRead<S>, chunk: usize) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = r.read(&mut buf).await.expect("in-memory pipe cannot fail");
            if n == 0 {
                return all;
            }
            all.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn every_byte_arrives_in_order_across_bursts() {
        let (mut tx, rx) = tokio::io::duplex(256 * 1024);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            for piece in sent.chunks(7_000) {
                tx.write_all(piece).await.expect("reader is alive");
            }
        });
        let mut reader = BurstRead::new(rx);
        let received = read_all(&mut reader, 4096).await;
        writer.await.expect("writer does not panic");
        assert_eq!(received.len(), data.len());
        assert!(received == data, "bytes reordered or corrupted");
    }

    #[tokio::test]
    async fn a_busy_reader_uses_the_burst_buffer_and_an_idle_one_frees_it() {
        let (mut tx, rx) = tokio::io::duplex(256 * 1024);
        tx.write_all(&[1u8; 100_000])
            .await
            .expect("reader is alive");
        let mut reader = BurstRead::new(rx);
        let mut buf = [0u8; 4096];
        // The first read fills the caller's buffer directly; the next one bursts.
        assert_eq!(reader.read(&mut buf).await.expect("in memory"), 4096);
        assert_eq!(reader.buf.capacity(), 0);
        assert_eq!(reader.read(&mut buf).await.expect("in memory"), 4096);
        assert_eq!(
            reader.buf.len(),
            FIRST_BURST - 4096,
            "a busy reader reads in bursts"
        );
        // The first burst filled its buffer: the next one reads up to `BURST`.
        for _ in 0..FIRST_BURST / 4096 {
            assert_eq!(reader.read(&mut buf).await.expect("in memory"), 4096);
        }
        assert_eq!(reader.size, BURST, "a full burst grows the next one");
        assert_eq!(reader.buf.len(), BURST - 4096);
        let mut rest = 100_000 - (2 + FIRST_BURST / 4096) * 4096;
        while rest > 0 {
            rest -= reader.read(&mut buf).await.expect("in memory");
        }
        // Nothing more is waiting: the next read finds the socket empty and frees the buffer.
        let poll = futures_util::FutureExt::now_or_never(reader.read(&mut buf));
        assert!(poll.is_none(), "nothing was sent");
        assert!(reader.buf.is_empty(), "an idle reader holds a burst buffer");
        assert_eq!(reader.buf.capacity(), 0);
    }
}
