//! Sending a file body in large pieces.
//!
//! reqwest's blocking client reads a streamed body in 8 KiB pieces and hands
//! each one over a channel to its runtime thread: for a 100 MiB PUT that is
//! 12,800 reads, writes and thread wake-ups (see docs/BENCHMARKS.md, "Single
//! PUTs of mid-size files"). Here the calling thread reads the file in
//! `PIECE` bytes at a time and hands each piece to reqwest's async client,
//! which runs on one runtime thread the S3 client owns and writes each piece
//! to the socket as it comes.
//!
//! Invariants:
//! - at most `QUEUED` pieces wait between the reader and the socket, so a
//!   transfer holds a few pieces in memory, never the whole file;
//! - the file is read on the calling thread (a poof worker), never on the
//!   runtime thread, which only moves bytes between the queue and sockets;
//! - when the request ends early (error answer, timeout, broken connection),
//!   the queue closes and the reader stops at its next piece.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use reqwest::header::HeaderMap;
use tokio::sync::{mpsc, oneshot};

/// How many bytes each read of the file asks for.
pub(super) const PIECE: usize = 256 << 10;

/// How many pieces may wait between the reader and the socket.
const QUEUED: usize = 2;

/// The answer to a streamed request: its status, headers, and body (error
/// answers are short; a successful PUT's is empty).
pub(super) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The async client and the thread that runs it.
pub(super) struct Streamer {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
    /// Dropping it ends the runtime thread.
    _stop: oneshot::Sender<()>,
}

impl Streamer {
    /// Starts the runtime thread for `http`.
    pub fn new(http: reqwest::Client) -> io::Result<Streamer> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("poof-http".into())
            .spawn(move || {
                // Runs the requests' tasks until the client is dropped.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Streamer {
            http,
            runtime: handle,
            _stop: stop,
        })
    }

    /// The async client, to build a request with.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `req`, whose body is the `len` bytes `body` yields, read here in
    /// `PIECE`s; returns the answer, read whole.
    pub fn send(
        &self,
        req: reqwest::RequestBuilder,
        mut body: impl Read,
        len: u64,
    ) -> Result<Answer, reqwest::Error> {
        let (tx, rx) = mpsc::channel(QUEUED);
        let req = req.body(reqwest::Body::wrap(Pieces { rx, left: len }));
        let (done, answer) = oneshot::channel();
        self.runtime.spawn(async move {
            let answer = async {
                // Sent from the runtime thread: the timeout's timer needs it.
                let resp = req.send().await?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp.bytes().await?;
                Ok(Answer {
                    status,
                    headers,
                    body,
                })
            };
            let _ = done.send(answer.await);
        });
        let mut left = len;
        while left > 0 {
            let mut buf = vec![0; PIECE.min(left as usize)];
            let piece = body.read_exact(&mut buf).map(|()| Bytes::from(buf));
            let failed = piece.is_err();
            left -= piece.as_ref().map_or(0, |b| b.len() as u64);
            // The request ended early: its answer says why.
            if tx.blocking_send(piece).is_err() || failed {
                break;
            }
        }
        drop(tx);
        answer
            .blocking_recv()
            .expect("the HTTP task answers before it ends")
    }
}

/// A request body made of the pieces a reader hands over.
struct Pieces {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    left: u64,
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.rx.poll_recv(cx).map(|piece| match piece {
            Some(Ok(b)) => {
                self.left = self.left.saturating_sub(b.len() as u64);
                Some(Ok(Frame::data(b)))
            }
            Some(Err(e)) => Some(Err(e)),
            None => Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the body's reader stopped early",
            ))),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}
