//! A small, real HTTP/1.1 static file server on 127.0.0.1 for tests and benchmarks: GET and
//! HEAD, keep-alive, `ETag`/`Last-Modified` with conditional requests, byte ranges, a request
//! log, and injectable faults (status codes, cut bodies, resets, delays, redirects, bearer
//! tokens, throttling).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this status for the next `times` requests, then behave normally.
    Status { status: u16, times: usize },
    /// Send full headers but only the first `at` body bytes, then close; next `times` requests.
    Truncate { at: usize, times: usize },
    /// Answer this status with these extra headers (e.g. `Retry-After`) for the next `times`
    /// requests, then behave normally.
    StatusWith {
        status: u16,
        headers: Vec<(String, String)>,
        times: usize,
    },
    /// Close the connection without answering; next `times` requests.
    Reset { times: usize },
    /// Sleep before answering (every request).
    Delay(Duration),
    /// Answer 302 with this Location (every request).
    Redirect(String),
    /// Require `Authorization: Bearer <token>`, else 401 (every request).
    RequireBearer(String),
    /// Send the body at about this many bytes per second (every request).
    Throttle(u64),
    /// Send the first `at` body bytes, then abort the connection with a TCP reset (RST);
    /// next `times` requests.
    ResetMidBody { at: usize, times: usize },
    /// Send the first `at` body bytes, then send nothing for `pause`, then close; next `times`
    /// requests.
    Stall {
        at: usize,
        pause: Duration,
        times: usize,
    },
    /// Announce a Content-Length `delta` bytes off the body's real length, send the whole
    /// body, then close; next `times` requests.
    LieLength { delta: i64, times: usize },
    /// Send the body without a Content-Length (ended by closing the connection, as HTTP/1.0
    /// and some proxies do); next `times` requests.
    NoLength { times: usize },
}

#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The request target as sent: a path, or an absolute URL when the client used this server
    /// as an HTTP proxy.
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub status: u16,
}

impl LoggedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    faults: HashMap<String, Fault>,
    log: Vec<LoggedRequest>,
}

pub struct FileServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl FileServer {
    pub fn start(root: impl Into<PathBuf>) -> FileServer {
        let root: PathBuf = root.into();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (root, st) = (root.clone(), st.clone());
                std::thread::spawn(move || serve(conn, &root, &st));
            }
        });
        FileServer { port, state, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn set_fault(&self, path: &str, fault: Fault) {
        lock(&self.state).faults.insert(path.to_string(), fault);
    }
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.path == path && r.method == "GET" && (r.status == 200 || r.status == 206))
            .count()
    }
    pub fn requests(&self, path: &str) -> usize {
        lock(&self.state)
            .log
            .iter()
            .filter(|r| r.path == path)
            .count()
    }
    pub fn log(&self) -> Vec<LoggedRequest> {
        lock(&self.state).log.clone()
    }
    pub fn reset_log(&self) {
        lock(&self.state).log.clear();
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// FNV-1a 64.
fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

fn mtime_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses an IMF-fixdate into seconds since the Unix epoch.
fn parse_http_date(s: &str) -> Option<u64> {
    let mut f = s.split_whitespace().skip(1);
    let d: i64 = f.next()?.parse().ok()?;
    let mon = f.next()?;
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|x| *x == mon)? as i64 + 1;
    let y: i64 = f.next()?.parse().ok()?;
    let mut hms = f.next()?.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (hms.next()??, hms.next()??, hms.next()??);
    // Days since 1970-01-01 from a civil date (inverse of the algorithm in `http_date`).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

struct Request {
    method: String,
    path: String,
    target: String,
    headers: Vec<(String, String)>,
}

/// One HTTP/1.1 request as read from a connection: method, target, headers (names
/// lower-cased) and body (`Content-Length` bytes).
pub struct RawRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Reads one request; `None` when the client closed the connection or sent garbage.
pub fn read_raw_request(r: &mut BufReader<TcpStream>) -> Option<RawRequest> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(RawRequest {
        method,
        target,
        headers,
        body,
    })
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let RawRequest {
        method,
        target,
        headers,
        ..
    } = read_raw_request(r)?;
    // An absolute-form target (a proxy request) is served as its path.
    let local = match target.strip_prefix("http://") {
        Some(rest) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => target.as_str(),
    };
    let path = local.split('?').next().unwrap_or("/").to_string();
    Some(Request {
        method,
        path,
        target,
        headers,
    })
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Takes one use of a counted fault for `path`, returning the fault to apply now.
fn take_fault(state: &Mutex<State>, path: &str) -> Option<Fault> {
    let mut s = lock(state);
    let f = s.faults.get_mut(path)?;
    match f {
        Fault::Status { times, .. }
        | Fault::StatusWith { times, .. }
        | Fault::Truncate { times, .. }
        | Fault::Reset { times }
        | Fault::ResetMidBody { times, .. }
        | Fault::Stall { times, .. }
        | Fault::LieLength { times, .. }
        | Fault::NoLength { times } => {
            if *times == 0 {
                return None;
            }
            *times -= 1;
            Some(f.clone())
        }
        other => Some(other.clone()),
    }
}

fn serve(conn: TcpStream, root: &std::path::Path, state: &Mutex<State>) {
    let _ = conn.set_nodelay(true);
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut out = write_half;
    while let Some(req) = read_request(&mut reader) {
        let close = header(&req, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let fault = take_fault(state, &req.path);
        let log = |status: u16| {
            lock(state).log.push(LoggedRequest {
                method: req.method.clone(),
                path: req.path.clone(),
                target: req.target.clone(),
                headers: req.headers.clone(),
                status,
            })
        };
        let mut throttle = None;
        let mut truncate = None;
        let mut rst = false;
        let mut stall = None;
        let mut lie = 0i64;
        let mut no_length = false;
        match &fault {
            Some(Fault::Reset { .. }) => {
                log(0);
                return;
            }
            Some(Fault::Delay(d)) => std::thread::sleep(*d),
            Some(Fault::Status { status, .. }) => {
                log(*status);
                if simple(&mut out, *status, &[], b"injected fault\n").is_err() || close {
                    return;
                }
                continue;
            }
            Some(Fault::StatusWith {
                status, headers, ..
            }) => {
                log(*status);
                let h: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                if simple(&mut out, *status, &h, b"injected fault\n").is_err() || close {
                    return;
                }
                continue;
            }
            Some(Fault::Redirect(to)) => {
                log(302);
                if simple(&mut out, 302, &[("Location", to.as_str())], b"").is_err() || close {
                    return;
                }
                continue;
            }
            Some(Fault::RequireBearer(t))
                if header(&req, "authorization") != Some(format!("Bearer {t}").as_str()) =>
            {
                log(401);
                let www = [("WWW-Authenticate", "Bearer")];
                if simple(&mut out, 401, &www, b"token required\n").is_err() || close {
                    return;
                }
                continue;
            }
            Some(Fault::RequireBearer(_)) => {}
            Some(Fault::Throttle(bps)) => throttle = Some(*bps),
            Some(Fault::Truncate { at, .. }) => truncate = Some(*at),
            Some(Fault::ResetMidBody { at, .. }) => {
                truncate = Some(*at);
                rst = true;
            }
            Some(Fault::Stall { at, pause, .. }) => {
                truncate = Some(*at);
                stall = Some(*pause);
            }
            Some(Fault::LieLength { delta, .. }) => lie = *delta,
            Some(Fault::NoLength { .. }) => no_length = true,
            None => {}
        }
        if req.method != "GET" && req.method != "HEAD" {
            log(405);
            if simple(&mut out, 405, &[], b"").is_err() || close {
                return;
            }
            continue;
        }
        let rel = req.path.trim_start_matches('/');
        let file = root.join(rel);
        let safe = !rel.split('/').any(|p| p == "..");
        let (data, mtime) = match (safe, std::fs::metadata(&file)) {
            (true, Ok(m)) if m.is_file() => match std::fs::read(&file) {
                Ok(d) => (d, m.modified().unwrap_or(UNIX_EPOCH)),
                Err(_) => (Vec::new(), UNIX_EPOCH),
            },
            _ => {
                log(404);
                if simple(&mut out, 404, &[], b"not found\n").is_err() || close {
                    return;
                }
                continue;
            }
        };
        let nanos = mtime
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let etag = format!("\"{:016x}-{:x}-{:x}\"", fnv(&data), data.len(), nanos);
        let last_modified = http_date(mtime);
        let not_modified = match header(&req, "if-none-match") {
            Some(v) => v.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
            None => header(&req, "if-modified-since")
                .and_then(parse_http_date)
                .is_some_and(|since| since >= mtime_secs(mtime)),
        };
        if not_modified {
            log(304);
            if simple(
                &mut out,
                304,
                &[("ETag", &etag), ("Last-Modified", &last_modified)],
                b"",
            )
            .is_err()
                || close
            {
                return;
            }
            continue;
        }
        let total = data.len();
        let mut status = 200;
        let mut range = 0..total;
        let mut extra: Vec<(String, String)> = vec![
            ("ETag".into(), etag.clone()),
            ("Last-Modified".into(), last_modified.clone()),
            ("Accept-Ranges".into(), "bytes".into()),
        ];
        if let Some(spec) = header(&req, "range").and_then(|r| r.strip_prefix("bytes=")) {
            let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
            let (start, end) = if a.trim().is_empty() {
                // Suffix range: the last N bytes.
                let n: usize = b.trim().parse().unwrap_or(0);
                (total - n.min(total), if n == 0 { 0 } else { total })
            } else {
                let start: usize = a.trim().parse().unwrap_or(0);
                let end = b.trim().parse::<usize>().map(|e| e + 1).unwrap_or(total);
                (start, end.min(total))
            };
            if start >= total || start >= end {
                log(416);
                let cr = format!("bytes */{total}");
                if simple(&mut out, 416, &[("Content-Range", &cr)], b"").is_err() || close {
                    return;
                }
                continue;
            }
            status = 206;
            range = start..end;
            extra.push((
                "Content-Range".into(),
                format!("bytes {start}-{}/{total}", end - 1),
            ));
        }
        log(status);
        let body = &data[range];
        let mut head = if no_length {
            format!(
                "HTTP/1.1 {status} {}\r\nConnection: close\r\nContent-Type: application/octet-stream\r\n",
                reason(status)
            )
        } else {
            format!(
                "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n",
                reason(status),
                (body.len() as i64 + lie).max(0)
            )
        };
        for (k, v) in &extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if out.write_all(head.as_bytes()).is_err() {
            return;
        }
        if req.method == "HEAD" {
            if close {
                return;
            }
            continue;
        }
        let send = match truncate {
            Some(at) => &body[..at.min(body.len())],
            None => body,
        };
        let ok = match throttle {
            Some(bps) => {
                let chunk = ((bps / 20).max(1)) as usize;
                send.chunks(chunk).all(|c| {
                    std::thread::sleep(Duration::from_millis(50));
                    out.write_all(c).is_ok()
                })
            }
            None => out.write_all(send).is_ok(),
        };
        let _ = out.flush();
        if let Some(pause) = stall {
            std::thread::sleep(pause);
        }
        if rst {
            // SO_LINGER with a zero timeout: closing sends RST instead of FIN.
            let sock = socket2::SockRef::from(&out);
            let _ = sock.set_linger(Some(Duration::ZERO));
            drop(reader);
            drop(out);
            return;
        }
        if !ok || truncate.is_some() || lie != 0 || no_length {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return;
        }
        if close {
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        304 => "Not Modified",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn simple(
    out: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}
