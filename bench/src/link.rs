//! A byte stream to a broker over raw TCP or over WebSocket, for the lean MQTT, NATS and
//! Redis clients: the same protocol code runs over either transport.
//!
//! Over WebSocket, every `write` is one binary message (a batch of protocol packets goes
//! out as one message), and the bytes of every received binary message are appended to the
//! read buffer: packets may span messages or share them, as MQTT and NATS over WebSocket
//! allow.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::Result;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket to `url` with TCP_NODELAY, asking for `subprotocol` if given.
pub async fn ws_connect(url: &str, subprotocol: Option<&'static str>) -> Result<Ws> {
    let mut request = url.into_client_request()?;
    if let Some(protocol) = subprotocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    }
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
    Ok(ws)
}

/// The reading half: received bytes accumulate in `buf`.
#[derive(Debug)]
pub struct LinkReader {
    inner: ReadHalf,
    pub buf: BytesMut,
}

#[derive(Debug)]
enum ReadHalf {
    Tcp(OwnedReadHalf),
    Ws(SplitStream<Ws>),
}

/// The writing half.
#[derive(Debug)]
pub enum LinkWriter {
    Tcp(OwnedWriteHalf),
    Ws(SplitSink<Ws, Message>),
}

/// Both halves, for handshakes.
#[derive(Debug)]
pub struct Link {
    pub reader: LinkReader,
    pub writer: LinkWriter,
}

impl Link {
    /// Raw TCP with TCP_NODELAY.
    pub async fn tcp(addr: SocketAddr) -> Result<Link> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        Ok(Link {
            reader: LinkReader::new(ReadHalf::Tcp(read)),
            writer: LinkWriter::Tcp(write),
        })
    }

    /// A WebSocket (binary messages) with TCP_NODELAY.
    pub async fn ws(url: &str, subprotocol: Option<&'static str>) -> Result<Link> {
        let (sink, stream) = ws_connect(url, subprotocol).await?.split();
        Ok(Link {
            reader: LinkReader::new(ReadHalf::Ws(stream)),
            writer: LinkWriter::Ws(sink),
        })
    }

    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.writer.write(data).await
    }
}

impl LinkReader {
    fn new(inner: ReadHalf) -> LinkReader {
        LinkReader {
            inner,
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// Reads what arrives next and appends it to `buf`; an error once the stream ended.
    pub async fn read_more(&mut self) -> Result<()> {
        match &mut self.inner {
            ReadHalf::Tcp(read) => {
                if self.buf.capacity() - self.buf.len() < 16 * 1024 {
                    self.buf.reserve(64 * 1024);
                }
                match read.read_buf(&mut self.buf).await? {
                    0 => Err("connection closed".into()),
                    _ => Ok(()),
                }
            }
            ReadHalf::Ws(stream) => loop {
                match stream.next().await.ok_or("connection closed")?? {
                    Message::Binary(bytes) => {
                        self.buf.extend_from_slice(&bytes);
                        return Ok(());
                    }
                    Message::Text(text) => {
                        self.buf.extend_from_slice(text.as_bytes());
                        return Ok(());
                    }
                    Message::Close(close) => return Err(format!("closed: {close:?}").into()),
                    _ => {}
                }
            },
        }
    }

    /// Reads until `buf` holds at least `n` bytes.
    pub async fn fill(&mut self, n: usize) -> Result<()> {
        while self.buf.len() < n {
            self.read_more().await?;
        }
        Ok(())
    }

    /// Reads until `buf` contains `pattern`, then removes and returns everything up to and
    /// including it.
    pub async fn read_until(&mut self, pattern: &[u8]) -> Result<Bytes> {
        let mut searched = 0usize;
        loop {
            let start = searched.saturating_sub(pattern.len());
            if let Some(at) = self.buf[start..]
                .windows(pattern.len())
                .position(|w| w == pattern)
            {
                return Ok(self.buf.split_to(start + at + pattern.len()).freeze());
            }
            searched = self.buf.len();
            self.read_more().await?;
        }
    }
}

impl LinkWriter {
    /// Writes `data` (over WebSocket: as one binary message) and flushes.
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        match self {
            LinkWriter::Tcp(write) => write.write_all(data).await?,
            LinkWriter::Ws(sink) => {
                sink.send(Message::Binary(Bytes::copy_from_slice(data)))
                    .await?
            }
        }
        Ok(())
    }
}
