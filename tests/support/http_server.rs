//! A loopback HTTP/1.1 server for tests and benches.
//!
//! It binds `127.0.0.1:0`, records every request it reads, and answers each with
//! the [`Reply`] a handler closure picks: a normal response, a delay, a
//! connection closed (or reset) mid-body, a huge streamed body, a hang. It
//! speaks just enough HTTP/1.1 for a client under test: request bodies with
//! `Content-Length` or chunked encoding, keep-alive unless the client says
//! `Connection: close`.
//!
//! Include it from a test crate with `mod support;` (and a `support/mod.rs`
//! saying `pub mod http_server;`) or `#[path = "support/http_server.rs"] mod http_server;`.
//!
//! ```ignore
//! let server = TestServer::start(|req: &Recorded| match req.path.as_str() {
//!     "/ok" => Reply::status(200).body("fine"),
//!     _ => Reply::status(404),
//! })
//! .await;
//! let url = server.url("/ok");
//! ```
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The largest request head the server reads.
const MAX_HEAD: usize = 64 * 1024;

/// A request as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent (path and query).
    pub path: String,
    /// Header names (lowercased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name` (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response with a `Content-Length`.
    Respond {
        /// The status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// Waits, then does the inner reply.
    Delay(Duration, Box<Reply>),
    /// Sends a head announcing `content_length` bytes, then `sent` bytes of body,
    /// then closes the connection (with an RST if `reset`, else a FIN).
    CloseMidBody {
        /// The announced body length.
        content_length: usize,
        /// What is actually sent.
        sent: Vec<u8>,
        /// Reset (`SO_LINGER` 0) rather than close.
        reset: bool,
    },
    /// Sends a head announcing `content_length` bytes and `sent` bytes of body,
    /// then stalls until the client leaves.
    StallMidBody {
        /// The announced body length.
        content_length: usize,
        /// What is sent before stalling.
        sent: Vec<u8>,
    },
    /// Streams `total` bytes of `x` in `chunk`-byte writes, with a
    /// `Content-Length`, then closes. Stops early if the client goes away.
    Stream {
        /// The status code.
        status: u16,
        /// Total body length.
        total: usize,
        /// Size of each write.
        chunk: usize,
    },
    /// Closes the connection without answering.
    Close,
    /// Never answers; holds the connection until the client leaves.
    Hang,
}

impl Reply {
    /// A response with this status and an empty body.
    pub fn status(status: u16) -> Self {
        Self::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Sets the body (on a `Respond`; others are returned unchanged).
    pub fn body(mut self, new_body: impl Into<Vec<u8>>) -> Self {
        if let Self::Respond { body, .. } = &mut self {
            *body = new_body.into();
        }
        self
    }

    /// Adds a header (on a `Respond`; others are returned unchanged).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Self::Respond { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// This reply after `delay`.
    pub fn after(self, delay: Duration) -> Self {
        Self::Delay(delay, Box::new(self))
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// A running server; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Starts a server on `127.0.0.1:0` answering with `handler`.
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::start_at("127.0.0.1:0".parse().expect("address"), handler).await
    }

    /// Starts a server on `addr` (a receiver coming back on a known port).
    pub async fn start_at(
        addr: SocketAddr,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind test server");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    // Errors only mean the client went away.
                    let _ = serve(stream, handler, recorded).await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// Starts a server giving every request the same reply.
    pub async fn always(reply: Reply) -> Self {
        Self::start(move |_| reply.clone()).await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request read so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many requests for `path` (the target, query included) were read.
    pub fn hits(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port on 127.0.0.1 with nothing listening (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr
}

async fn serve(
    mut stream: TcpStream,
    handler: Arc<Handler>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await? else {
            return Ok(());
        };
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let reply = handler(&request);
        if let Ok(mut r) = recorded.lock() {
            r.push(request);
        }
        if !answer(&mut stream, reply).await? || close {
            return Ok(());
        }
    }
}

/// Performs `reply`; returns whether the connection can carry another request.
async fn answer(stream: &mut TcpStream, mut reply: Reply) -> std::io::Result<bool> {
    while let Reply::Delay(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    match reply {
        // Unwrapped by the loop above.
        Reply::Delay(..) => Ok(false),
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let mut head = status_line(status);
            for (name, value) in &headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.flush().await?;
            Ok(true)
        }
        Reply::CloseMidBody {
            content_length,
            sent,
            reset,
        } => {
            let head = format!(
                "{}content-length: {content_length}\r\n\r\n",
                status_line(200)
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&sent).await?;
            stream.flush().await?;
            if reset {
                // SO_LINGER 0: close sends an RST. Deprecated because a non-zero
                // linger blocks on drop; zero does not.
                #[allow(deprecated)]
                stream.set_linger(Some(Duration::ZERO))?;
            }
            Ok(false)
        }
        Reply::StallMidBody {
            content_length,
            sent,
        } => {
            let head = format!(
                "{}content-length: {content_length}\r\n\r\n",
                status_line(200)
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&sent).await?;
            stream.flush().await?;
            wait_for_close(stream).await
        }
        Reply::Stream {
            status,
            total,
            chunk,
        } => {
            let head = format!("{}content-length: {total}\r\n\r\n", status_line(status));
            stream.write_all(head.as_bytes()).await?;
            let block = vec![b'x'; chunk.max(1)];
            let mut left = total;
            while left > 0 {
                let n = left.min(block.len());
                stream.write_all(&block[..n]).await?;
                left -= n;
            }
            stream.flush().await?;
            Ok(false)
        }
        Reply::Close => Ok(false),
        Reply::Hang => wait_for_close(stream).await,
    }
}

/// Waits for the client to close its side (read returns 0 or fails).
async fn wait_for_close(stream: &mut TcpStream) -> std::io::Result<bool> {
    let mut sink = [0u8; 1024];
    while stream.read(&mut sink).await? > 0 {}
    Ok(false)
}

fn status_line(status: u16) -> String {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    };
    format!("HTTP/1.1 {status} {reason}\r\n")
}

/// Reads one request; `None` if the client closed the connection first.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Recorded>> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD || !fill(stream, buf).await? {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut request = Recorded {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                if !fill(stream, buf).await? {
                    return Ok(None);
                }
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                if !fill(stream, buf).await? {
                    return Ok(None);
                }
            }
            request.body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
            if size == 0 {
                // No trailers are sent by the clients under test.
                break;
            }
        }
    } else {
        let len: usize = request
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < len {
            if !fill(stream, buf).await? {
                return Ok(None);
            }
        }
        request.body = buf.drain(..len).collect();
    }
    Ok(Some(request))
}

/// Reads more bytes into `buf`; `false` at end of stream.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
