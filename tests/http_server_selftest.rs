//! Self-tests for the test HTTP file server, driven by raw `TcpStream` requests.

#[path = "support/http_server.rs"]
mod http_server;

use http_server::{Fault, FileServer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// A parsed response. `body` holds what was actually received, which may be shorter than
/// `Content-Length` when the server cut the connection.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn content_length(&self) -> usize {
        self.header("content-length").unwrap().parse().unwrap()
    }
}

/// A client connection that can carry several requests (keep-alive).
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(server: &FileServer) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.reader.get_mut().write_all(req.as_bytes()).unwrap();
    }

    /// Reads one response; the body is read up to `Content-Length` or end of stream.
    fn read_response(&mut self, method: &str) -> Response {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("bad status line {line:?}"))
            .parse()
            .unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if method != "HEAD" && status != 304 {
            let len = resp.content_length();
            (&mut self.reader)
                .take(len as u64)
                .read_to_end(&mut resp.body)
                .unwrap();
        }
        resp
    }

    fn request(&mut self, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
        self.send(method, target, headers);
        self.read_response(method)
    }

    /// True when the server has closed the connection (a read yields 0 bytes or an error).
    fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }
}

/// One request on a fresh connection.
fn get(server: &FileServer, target: &str, headers: &[(&str, &str)]) -> Response {
    Conn::open(server).request("GET", target, headers)
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn get_and_head_answer_200_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/b.bin", b"hello, world");
    let server = FileServer::start(dir.path());
    assert_eq!(server.url(), format!("http://127.0.0.1:{}", server.port()));

    let mut conn = Conn::open(&server);
    let r = conn.request("GET", "/a/b.bin", &[("X-Probe", "1")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello, world");
    assert_eq!(r.content_length(), 12);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let etag = r.header("etag").unwrap();
    assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'));
    assert!(r.header("last-modified").unwrap().ends_with(" GMT"));

    // Same connection (keep-alive): HEAD has headers but no body; query strings are ignored.
    let h = conn.request("HEAD", "/a/b.bin", &[]);
    assert_eq!(h.status, 200);
    assert_eq!(h.content_length(), 12);
    assert!(h.body.is_empty());
    let q = conn.request("GET", "/a/b.bin?x=1&y=2", &[]);
    assert_eq!(q.status, 200);
    assert_eq!(q.body, b"hello, world");

    assert_eq!(server.hits("/a/b.bin"), 2);
    assert_eq!(server.requests("/a/b.bin"), 3);
    let log = server.log();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/a/b.bin");
    assert_eq!(log[0].status, 200);
    assert_eq!(log[0].header("x-probe"), Some("1"));
    assert_eq!(log[0].header("X-Probe"), Some("1"));
    assert_eq!(log[1].method, "HEAD");

    server.reset_log();
    assert!(server.log().is_empty());
    assert_eq!(server.requests("/a/b.bin"), 0);
}

#[test]
fn files_are_reread_on_every_request() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", b"first");
    let server = FileServer::start(dir.path());
    let a = get(&server, "/f", &[]);
    write(dir.path(), "f", b"second version");
    let b = get(&server, "/f", &[]);
    assert_eq!(a.body, b"first");
    assert_eq!(b.body, b"second version");
    assert_ne!(a.header("etag"), b.header("etag"));
}

#[test]
fn connection_close_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", b"data");
    let server = FileServer::start(dir.path());
    let mut conn = Conn::open(&server);
    let r = conn.request("GET", "/f", &[("Connection", "close")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"data");
    assert!(conn.closed());
}

#[test]
fn missing_files_and_directories_are_404() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d/f", b"x");
    let server = FileServer::start(dir.path());
    assert_eq!(get(&server, "/nope", &[]).status, 404);
    assert_eq!(get(&server, "/d", &[]).status, 404);
    assert_eq!(get(&server, "/d/", &[]).status, 404);
    assert_eq!(server.hits("/nope"), 0);
    assert_eq!(server.requests("/nope"), 1);
    assert_eq!(server.log()[0].status, 404);
}

#[test]
fn last_modified_is_an_imf_fixdate() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", b"x");
    // Sun, 06 Nov 1994 08:49:37 GMT (the RFC 9110 example).
    let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
    let file = std::fs::File::options()
        .write(true)
        .open(dir.path().join("f"))
        .unwrap();
    file.set_modified(t).unwrap();
    drop(file);
    let server = FileServer::start(dir.path());
    let r = get(&server, "/f", &[]);
    assert_eq!(
        r.header("last-modified"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
}

#[test]
fn conditional_requests_get_304() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", b"0123456789");
    let server = FileServer::start(dir.path());
    let first = get(&server, "/f", &[]);
    let etag = first.header("etag").unwrap().to_string();
    let lm = first.header("last-modified").unwrap().to_string();

    let mut conn = Conn::open(&server);
    let r = conn.request("GET", "/f", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = conn.request("GET", "/f", &[("If-Modified-Since", &lm)]);
    assert_eq!(r.status, 304);
    // The connection is still usable after a 304.
    let r = conn.request("GET", "/f", &[("If-None-Match", "\"other\"")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"0123456789");
    assert_eq!(server.hits("/f"), 2);

    // Same length, new content: the ETag changes and the old one no longer matches.
    write(dir.path(), "f", b"abcdefghij");
    let r = get(&server, "/f", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"abcdefghij");
    assert_ne!(r.header("etag").unwrap(), etag);
}

#[test]
fn byte_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let data = body(1000);
    write(dir.path(), "f", &data);
    let server = FileServer::start(dir.path());
    let mut conn = Conn::open(&server);

    let r = conn.request("GET", "/f", &[("Range", "bytes=100-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 100-999/1000"));
    assert_eq!(r.content_length(), 900);
    assert_eq!(r.body, &data[100..]);

    let r = conn.request("GET", "/f", &[("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 10-19/1000"));
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));

    // An end past the file is clamped.
    let r = conn.request("GET", "/f", &[("Range", "bytes=990-5000")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 990-999/1000"));
    assert_eq!(r.body, &data[990..]);

    let r = conn.request("GET", "/f", &[("Range", "bytes=1000-")]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1000"));

    assert_eq!(server.hits("/f"), 3);
    assert_eq!(server.requests("/f"), 4);
}

#[test]
fn status_fault_applies_for_the_given_number_of_requests() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", b"ok");
    let server = FileServer::start(dir.path());
    server.set_fault(
        "/f",
        Fault::Status {
            status: 503,
            times: 2,
        },
    );
    let mut conn = Conn::open(&server);
    assert_eq!(conn.request("GET", "/f", &[]).status, 503);
    assert_eq!(conn.request("GET", "/f", &[]).status, 503);
    let r = conn.request("GET", "/f", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");
    assert_eq!(server.hits("/f"), 1);
    assert_eq!(server.requests("/f"), 3);

    // A later fault replaces the earlier one; clear_faults removes all.
    server.set_fault(
        "/f",
        Fault::Status {
            status: 500,
            times: 5,
        },
    );
    server.set_fault(
        "/f",
        Fault::Status {
            status: 429,
            times: 5,
        },
    );
    assert_eq!(get(&server, "/f", &[]).status, 429);
    server.clear_faults();
    assert_eq!(get(&server, "/f", &[]).status, 200);
}

#[test]
fn truncate_fault_cuts_the_body_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let data = body(5000);
    write(dir.path(), "f", &data);
    let server = FileServer::start(dir.path());
    server.set_fault("/f", Fault::Truncate { at: 1234, times: 1 });

    let mut conn = Conn::open(&server);
    let r = conn.request("GET", "/f", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.content_length(), 5000);
    assert_eq!(r.body, &data[..1234]);
    assert!(conn.closed());

    let r = get(&server, "/f", &[]);
    assert_eq!(r.body, data);
}

#[test]
fn reset_fault_closes_without_answering() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", b"ok");
    let server = FileServer::start(dir.path());
    server.set_fault("/f", Fault::Reset { times: 1 });

    let mut conn = Conn::open(&server);
    conn.send("GET", "/f", &[]);
    assert!(conn.closed());
    assert_eq!(server.requests("/f"), 1);
    assert_eq!(server.hits("/f"), 0);

    assert_eq!(get(&server, "/f", &[]).status, 200);
}

#[test]
fn delay_fault_waits_before_answering() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", b"ok");
    let server = FileServer::start(dir.path());
    server.set_fault("/f", Fault::Delay(Duration::from_millis(200)));
    let t = Instant::now();
    let r = get(&server, "/f", &[]);
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[test]
fn redirect_fault_answers_302() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", b"ok");
    let server = FileServer::start(dir.path());
    let to = format!("{}/elsewhere", server.url());
    server.set_fault("/f", Fault::Redirect(to.clone()));
    let r = get(&server, "/f", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some(to.as_str()));
    assert_eq!(server.hits("/f"), 0);
}

#[test]
fn require_bearer_fault_checks_the_token() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "f", b"secret");
    let server = FileServer::start(dir.path());
    server.set_fault("/f", Fault::RequireBearer("tok123".into()));
    let mut conn = Conn::open(&server);
    assert_eq!(conn.request("GET", "/f", &[]).status, 401);
    let r = conn.request("GET", "/f", &[("Authorization", "Bearer wrong")]);
    assert_eq!(r.status, 401);
    let r = conn.request("GET", "/f", &[("Authorization", "Bearer tok123")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"secret");
    assert_eq!(server.hits("/f"), 1);
    assert_eq!(
        server.log()[2].header("authorization"),
        Some("Bearer tok123")
    );
}

#[test]
fn throttle_fault_slows_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let data = body(20_000);
    write(dir.path(), "f", &data);
    let server = FileServer::start(dir.path());
    server.set_fault("/f", Fault::Throttle(100_000));
    let t = Instant::now();
    let r = get(&server, "/f", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(100), "{took:?}");
}

#[test]
fn dropping_the_server_stops_listening() {
    let dir = tempfile::tempdir().unwrap();
    let server = FileServer::start(dir.path());
    let port = server.port();
    drop(server);
    // Best effort: the listener closes shortly after the drop.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still listening on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
