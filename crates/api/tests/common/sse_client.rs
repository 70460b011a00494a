//! A minimal SSE client over hyper's HTTP/1 connection, for the tests and the fan-out example.
//! It splits the body into frames (blank-line separated) and keeps comments, ids and types.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One SSE frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    /// `data:` lines joined with `\n`; empty when the frame had none.
    pub data: String,
    pub comments: Vec<String>,
}

/// The offset of the first `\n\n` at or after `from`.
fn frame_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < buf.len() {
        match buf[i + 1..].iter().position(|b| *b == b'\n') {
            Some(offset) => {
                let newline = i + 1 + offset;
                if buf[newline - 1] == b'\n' {
                    return Some(newline - 1);
                }
                i = newline;
            }
            None => return None,
        }
    }
    None
}

impl Frame {
    fn parse(bytes: &[u8]) -> Frame {
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let mut frame = Frame::default();
        let mut data: Vec<&str> = Vec::new();
        for line in text.lines() {
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "" => frame.comments.push(value.to_owned()),
                "id" => frame.id = Some(value.to_owned()),
                "event" => frame.event = Some(value.to_owned()),
                "data" => data.push(value),
                _ => {}
            }
        }
        frame.data = data.join("\n");
        frame
    }

    /// An event frame (not a comment-only keep-alive or the hello).
    pub fn is_event(&self) -> bool {
        self.event.is_some() || !self.data.is_empty()
    }
}

pub struct SseClient {
    body: Incoming,
    /// Bytes, not text: a chunk may end inside a multi-byte character.
    buf: Vec<u8>,
    /// Start of the first unread frame in `buf`.
    start: usize,
    /// Everything before this offset is known not to hold a frame end.
    scanned: usize,
}

/// What connecting produced: a stream, or the error response's status and body.
pub enum Connected {
    Stream(SseClient),
    Refused(StatusCode, String),
}

impl SseClient {
    /// `GET path_and_query` with an optional bearer token.
    pub async fn connect(
        addr: SocketAddr,
        path_and_query: &str,
        token: Option<&str>,
    ) -> std::io::Result<Connected> {
        let tcp = TcpStream::connect(addr).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = Request::get(path_and_query)
            .header("host", addr.to_string())
            .header("accept", "text/event-stream");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(std::io::Error::other)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(std::io::Error::other)?;
        let status = response.status();
        let body = response.into_body();
        if status != StatusCode::OK {
            let bytes = body
                .collect()
                .await
                .map_err(std::io::Error::other)?
                .to_bytes();
            return Ok(Connected::Refused(
                status,
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        Ok(Connected::Stream(SseClient {
            body,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
        }))
    }

    /// The next frame, or `None` when the stream ended. Each byte is scanned once, and the
    /// buffer is compacted only when more data must be read.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = frame_end(&self.buf, self.scanned.max(self.start)) {
                let frame = Frame::parse(&self.buf[self.start..end]);
                self.start = end + 2;
                self.scanned = self.start;
                return Some(frame);
            }
            self.buf.drain(..self.start);
            self.scanned = self.buf.len().saturating_sub(1);
            self.start = 0;
            let chunk = loop {
                match self.body.frame().await? {
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data() {
                            break data;
                        }
                    }
                    Err(_) => return None,
                }
            };
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// The next event frame, skipping comment-only frames.
    pub async fn next_event(&mut self) -> Option<Frame> {
        loop {
            let frame = self.next_frame().await?;
            if frame.is_event() {
                return Some(frame);
            }
        }
    }
}
