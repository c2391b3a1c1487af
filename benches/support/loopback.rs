//! A minimal keep-alive HTTP/1.1 server on 127.0.0.1 for the benches: it reads
//! each request (head, then `content-length` bytes), waits and answers as
//! `answer` says for the request's path, and counts the answers per path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How to answer a request to a path: after this long, with this status.
pub type Answer = fn(&str) -> (Duration, u16);

/// Answers counted: all of them, and per path.
#[derive(Debug, Default)]
pub struct Served {
    pub total: AtomicUsize,
    pub by_path: Mutex<HashMap<String, usize>>,
}

impl Served {
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

/// Starts the server; returns its address.
pub async fn start(served: Arc<Served>, answer: Answer) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let served = served.clone();
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(8192);
                let mut chunk = [0u8; 8192];
                loop {
                    // Read one request: head, then content-length bytes.
                    let (head_end, body_len, path) = loop {
                        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                            break (pos + 4, len, path);
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    while buf.len() < head_end + body_len {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + body_len);
                    let (delay, status) = answer(&path);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                    served.total.fetch_add(1, Ordering::Relaxed);
                    *served.by_path.lock().unwrap().entry(path).or_default() += 1;
                }
            });
        }
    });
    addr
}
