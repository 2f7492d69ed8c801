//! A Graph that misbehaves on purpose: a small HTTP/1.1 server on
//! loopback whose every answer a test scripts, down to the bytes and their
//! timing (an endless body, a trickle, a redirect, ids that are paths).
//! The fake Graph models Graph; this one models a broken server or a
//! hostile proxy, which no model of Graph would produce.
//!
//! Each connection is served on its own thread and closed after one
//! answer, so a test sees every request in `hits()` in arrival order.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server read it.
#[derive(Clone, Debug)]
pub(crate) struct Req {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub body: String,
}

impl Req {
    pub fn is_token(&self) -> bool {
        self.target.contains("/oauth2/v2.0/token")
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

type Handler = dyn Fn(&Req, &mut TcpStream, &str) -> std::io::Result<()> + Send + Sync;

/// A running server; it lives until the test process ends.
pub(crate) struct Hostile {
    pub url: String,
    hits: Arc<Mutex<Vec<Req>>>,
}

impl Hostile {
    /// Serves every request with `handler(request, stream, own url)`.
    pub fn start(
        handler: impl Fn(&Req, &mut TcpStream, &str) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> std::io::Result<Hostile> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let hits = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (h, u) = (hits.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, hits, url) = (handler.clone(), h.clone(), u.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &*handler, &hits, &url);
                });
            }
        });
        Ok(Hostile { url, hits })
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Req> {
        self.hits.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Requests that were not for a token.
    pub fn graph_hits(&self) -> usize {
        self.hits().iter().filter(|r| !r.is_token()).count()
    }
}

fn serve(mut stream: TcpStream, handler: &Handler, hits: &Mutex<Vec<Req>>, url: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let req = Req { method, target, body: String::from_utf8_lossy(&body).into_owned() };
    if let Ok(mut h) = hits.lock() {
        h.push(req.clone());
    }
    handler(&req, &mut stream, url)?;
    stream.flush()
}

/// Writes a whole answer.
pub(crate) fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}

/// A JSON answer.
pub(crate) fn json(stream: &mut TcpStream, status: u16, body: &serde_json::Value) -> std::io::Result<()> {
    respond(stream, status, &[("Content-Type", "application/json")], &body.to_string())
}

/// A well-formed client-credentials token answer.
pub(crate) fn token(stream: &mut TcpStream) -> std::io::Result<()> {
    json(
        stream,
        200,
        &serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0.e30.x"}),
    )
}

/// An empty, final page.
pub(crate) fn empty_page(stream: &mut TcpStream) -> std::io::Result<()> {
    json(stream, 200, &serde_json::json!({"value": []}))
}
