//! A recording HTTP/1.1 proxy in front of a test server: it records each request (method,
//! path), lets a hook act before one goes on, and can drop a request header. Runs until the
//! test ends.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Called with (method, path) before a request goes on to the server.
pub type Hook = Arc<dyn Fn(&str, &str) + Send + Sync>;

pub struct Proxy {
    pub url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port`) calling `hook` before each request and
    /// leaving out the request header `drop_header` (lowercase name), if any.
    pub fn start(upstream: &str, hook: Hook, drop_header: Option<&'static str>) -> Self {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut to_client, mut from_server) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                });
                let (hook, log) = (hook.clone(), log.clone());
                std::thread::spawn(move || forward(BufReader::new(client), server, &*hook, drop_header, &log));
            }
        });
        Self { url, seen }
    }

    /// The paths of the requests made with `method`, in order.
    pub fn requests(&self, method: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(m, _)| m == method)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

/// Forwards the requests of one connection (bodies by Content-Length), hook first.
fn forward(
    mut reader: BufReader<TcpStream>,
    mut server: TcpStream,
    hook: &(dyn Fn(&str, &str) + Send + Sync),
    drop_header: Option<&str>,
    log: &Mutex<Vec<(String, String)>>,
) {
    loop {
        let mut head = Vec::new();
        let mut length = 0usize;
        let mut first = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            assert!(
                !lower.starts_with("transfer-encoding:"),
                "the proxy forwards Content-Length bodies only"
            );
            if first.is_empty() {
                first = line.trim().to_string();
            }
            let dropped = drop_header.is_some_and(|name| lower.starts_with(&format!("{name}:")));
            if !dropped {
                head.extend_from_slice(line.as_bytes());
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = first.split(' ');
        let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        hook(method, path);
        log.lock().unwrap().push((method.to_string(), path.to_string()));
        if server.write_all(&head).is_err() || server.write_all(&body).is_err() {
            return;
        }
    }
}
