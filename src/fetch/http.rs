//! The HTTP client: conditional GETs, streaming downloads with SHA-256 computed on the way,
//! bounded retries with capped backoff (and the server's `Retry-After`), resumption with
//! `Range`, and bearer tokens sent only to the host they belong to.

use super::{FetchError, Metadata, MetadataLimits, Token, host_of};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options for the HTTP client.
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// Bearer token and the hosts it may be sent to (the index's and the registry's artifact
    /// hosts); a redirect to any other host goes without it.
    pub token: Option<Token>,
    /// Extra root certificates (PEM file).
    pub ca_bundle: Option<PathBuf>,
    /// Attempts per URL (at least 1).
    pub attempts: u32,
    /// Delay before the first retry; doubles each time, up to `max_backoff`.
    pub backoff: Duration,
    /// The longest delay between retries, in milliseconds.
    pub max_backoff_ms: u32,
    /// The longest wait a `429`/`503` response's `Retry-After` may ask for, in milliseconds; a
    /// longer one is an error at once.
    pub max_retry_after_ms: u32,
    /// Give up on a connection or a stalled body after this long.
    pub timeout: Duration,
    pub quiet: bool,
    /// An `Accept` header for every request (GitHub's API serves asset bytes only for
    /// `application/octet-stream`).
    pub accept: Option<String>,
    /// Size caps of the files read whole ([`Http::get_conditional`]).
    pub limits: MetadataLimits,
}

impl HttpOptions {
    pub fn from_env() -> HttpOptions {
        let ms = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        HttpOptions {
            token: None,
            ca_bundle: std::env::var_os("PTD_CA_BUNDLE").map(PathBuf::from),
            attempts: ms("PTD_HTTP_ATTEMPTS", 4) as u32,
            backoff: Duration::from_millis(ms("PTD_HTTP_BACKOFF_MS", 250)),
            max_backoff_ms: ms("PTD_HTTP_MAX_BACKOFF_MS", 10_000).min(u32::MAX.into()) as u32,
            max_retry_after_ms: ms("PTD_HTTP_MAX_RETRY_AFTER_MS", 60_000).min(u32::MAX.into())
                as u32,
            timeout: Duration::from_millis(ms("PTD_HTTP_TIMEOUT_MS", 30_000)),
            quiet: false,
            accept: None,
            limits: MetadataLimits::default(),
        }
    }
}

/// A conditional GET's outcome.
pub enum Conditional {
    NotModified,
    NotFound,
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// The HTTP client.
#[derive(Clone)]
pub struct Http {
    /// Built on the first request: building it reads the system's root certificates, which a
    /// command that finds everything in place (or works offline) never needs. Shared by every
    /// clone, so that one client (and its pool of connections) serves every transport.
    client: std::sync::Arc<std::sync::OnceLock<Result<reqwest::Client, String>>>,
    /// The certificates of `PTD_CA_BUNDLE`, read and checked when the client is made.
    roots: Vec<reqwest::Certificate>,
    opts: HttpOptions,
}

/// Timeouts, resets and cut bodies are retried. A refused connection or an unknown host is not:
/// the next mirror is tried at once instead.
fn retryable(e: &reqwest::Error) -> bool {
    if e.is_connect() {
        return e.is_timeout();
    }
    e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()
}

impl Http {
    pub fn new(opts: HttpOptions) -> Result<Http, FetchError> {
        let mut roots = Vec::new();
        if let Some(ca) = &opts.ca_bundle {
            let pem = std::fs::read(ca).map_err(|e| FetchError::io(ca, e))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| FetchError::Http {
                    url: ca.display().to_string(),
                    message: format!("not a PEM certificate bundle: {e}"),
                })?;
            if certs.is_empty() {
                return Err(FetchError::Http {
                    url: ca.display().to_string(),
                    message: "no PEM certificate (-----BEGIN CERTIFICATE-----) in this CA bundle"
                        .into(),
                });
            }
            roots = certs;
        }
        Ok(Http {
            client: Default::default(),
            roots,
            opts,
        })
    }

    /// The client, made on first use.
    fn client(&self, url: &str) -> Result<&reqwest::Client, FetchError> {
        self.client
            .get_or_init(|| {
                let mut b = reqwest::Client::builder()
                    .user_agent(concat!("ptd/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(self.opts.timeout)
                    .read_timeout(self.opts.timeout)
                    .redirect(reqwest::redirect::Policy::limited(10));
                for c in &self.roots {
                    b = b.add_root_certificate(c.clone());
                }
                b.build().map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|message| FetchError::Http {
                url: url.to_string(),
                message: format!("cannot make an HTTP client: {message}"),
            })
    }

    pub fn options(&self) -> &HttpOptions {
        &self.opts
    }

    fn request(&self, url: &str) -> Result<reqwest::RequestBuilder, FetchError> {
        let mut rb = self.client(url)?.get(url);
        if let Some(t) = &self.opts.token
            && host_of(url).is_some_and(|h| t.hosts.contains(&h))
        {
            rb = rb.bearer_auth(&t.value);
        }
        if let Some(a) = &self.opts.accept {
            rb = rb.header(reqwest::header::ACCEPT, a);
        }
        Ok(rb)
    }

    /// What went wrong with a request, in words: a timeout says which, after how long, and
    /// how to allow more; anything else gives the whole chain of causes.
    fn failure(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            let t = self.opts.timeout;
            let which = if e.is_connect() {
                "connecting"
            } else {
                "waiting for data"
            };
            format!(
                "timed out after {} s {which} (the connect and read timeout, PTD_HTTP_TIMEOUT_MS={}; raise it for slow links)",
                t.as_secs_f64(),
                t.as_millis()
            )
        } else {
            error_chain(e)
        }
    }

    /// Waits before retry number `attempt + 1`: what the server asked for (`Retry-After`), else
    /// the exponential backoff, at most `max_backoff`.
    async fn backoff(&self, attempt: u32, asked: Option<Duration>) {
        let delay = match asked {
            Some(d) => d,
            None => self
                .opts
                .backoff
                .saturating_mul(2u32.saturating_pow(attempt))
                .min(Duration::from_millis(self.opts.max_backoff_ms.into())),
        };
        tokio::time::sleep(delay).await;
    }

    /// The wait a `429` or `503` response asks for with `Retry-After`; an error when that is
    /// longer than `max_retry_after`.
    fn retry_after(
        &self,
        url: &str,
        resp: &reqwest::Response,
    ) -> Result<Option<Duration>, FetchError> {
        let Some(wait) = retry_after(resp) else {
            return Ok(None);
        };
        let cap = Duration::from_millis(self.opts.max_retry_after_ms.into());
        if wait > cap {
            return Err(FetchError::Http {
                url: url.into(),
                message: format!(
                    "HTTP {}: the server asked to wait {} s (Retry-After) before trying again, longer than ptd waits (PTD_HTTP_MAX_RETRY_AFTER_MS={}); try again later, or raise PTD_HTTP_MAX_RETRY_AFTER_MS",
                    resp.status().as_u16(),
                    wait.as_secs_f64().ceil(),
                    cap.as_millis()
                ),
            });
        }
        Ok(Some(wait))
    }

    /// GET with `If-None-Match` / `If-Modified-Since`, retried on transport errors and 5xx.
    /// The body, a file of `kind`, is refused by its `Content-Length` when that is over the
    /// kind's cap, and otherwise as soon as more than the cap has arrived.
    pub async fn get_conditional(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
        kind: Metadata,
    ) -> Result<Conditional, FetchError> {
        let attempts = self.opts.attempts.max(1);
        let cap = self.opts.limits.cap(kind);
        let mut last = String::new();
        let mut asked = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                self.backoff(attempt - 1, asked.take()).await;
            }
            let mut rb = self.request(url)?;
            if let Some(e) = etag {
                rb = rb.header(reqwest::header::IF_NONE_MATCH, e);
            }
            if let Some(m) = last_modified {
                rb = rb.header(reqwest::header::IF_MODIFIED_SINCE, m);
            }
            let mut resp = match rb.send().await {
                Ok(r) => r,
                Err(e) if retryable(&e) => {
                    last = self.failure(&e);
                    continue;
                }
                Err(e) => return Err(http_err(url, &e)),
            };
            let status = resp.status();
            if status == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(Conditional::NotModified);
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(Conditional::NotFound);
            }
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                last = format!("HTTP {status}");
                asked = self.retry_after(url, &resp)?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: url.into(),
                    status: status.as_u16(),
                });
            }
            if let Some(n) = resp.content_length()
                && n > cap
            {
                return Err(self.opts.limits.too_large(
                    kind,
                    url,
                    format!("Content-Length says {n} bytes"),
                ));
            }
            let header = |h| {
                resp.headers()
                    .get(h)
                    .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                    .map(str::to_string)
            };
            let etag = header(reqwest::header::ETAG);
            let last_modified = header(reqwest::header::LAST_MODIFIED);
            let mut bytes = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
            let complete = loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        if (bytes.len() + chunk.len()) as u64 > cap {
                            return Err(self.opts.limits.too_large(
                                kind,
                                url,
                                format!("more than {cap} bytes arrived"),
                            ));
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Ok(None) => break true,
                    Err(e) => {
                        last = self.failure(&e);
                        break false;
                    }
                }
            };
            if complete {
                return Ok(Conditional::Body {
                    bytes,
                    etag,
                    last_modified,
                });
            }
        }
        Err(FetchError::Http {
            url: url.into(),
            message: format!("gave up after {attempts} attempts: {last}"),
        })
    }

    /// Downloads `url` into `part` (resuming what is there), checking size and SHA-256.
    /// On success `part` holds exactly the expected bytes. A resumed partial that turns out
    /// wrong (left by a mirror that sent an error page or another file) is discarded and the
    /// file downloaded once more from the start, without counting as an attempt.
    pub async fn download(
        &self,
        url: &str,
        part: &Path,
        want_sha256: &str,
        want_size: u64,
        label: &str,
    ) -> Result<(), FetchError> {
        let bar = self.progress(label, want_size);
        let attempts = self.opts.attempts.max(1);
        let mut last = String::new();
        let mut attempt = 0;
        let mut restarted = false;
        let mut asked = None;
        while attempt < attempts {
            if attempt > 0 {
                self.backoff(attempt - 1, asked.take()).await;
            }
            match self.download_once(url, part, want_size, &bar).await {
                Ok((got, resumed)) => {
                    if got == want_sha256 {
                        bar.finish_and_clear();
                        return Ok(());
                    }
                    let _ = std::fs::remove_file(part);
                    if resumed && !restarted {
                        restarted = true;
                        continue;
                    }
                    bar.finish_and_clear();
                    return Err(FetchError::Checksum {
                        url: url.into(),
                        got,
                        want: want_sha256.into(),
                    });
                }
                Err(Step::Retry(m)) => {
                    last = m;
                    attempt += 1;
                }
                Err(Step::RetryAfter(m, wait)) => {
                    last = m;
                    asked = Some(wait);
                    attempt += 1;
                }
                Err(Step::Restart(m)) => {
                    let _ = std::fs::remove_file(part);
                    if !restarted {
                        restarted = true;
                        continue;
                    }
                    last = m;
                    attempt += 1;
                }
                Err(Step::Fatal(e)) => {
                    bar.finish_and_clear();
                    return Err(e);
                }
            }
        }
        bar.finish_and_clear();
        Err(FetchError::Http {
            url: url.into(),
            message: format!("gave up after {attempts} attempts: {last}"),
        })
    }

    fn progress(&self, label: &str, size: u64) -> ProgressBar {
        if self.opts.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12.cyan.bold} [{bar:30}] {bytes}/{total_bytes} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix("Downloading");
        bar.set_message(label.to_string());
        bar
    }

    /// One attempt; returns the SHA-256 of the whole file, computed as the bytes arrive (and
    /// over the part already on disk when resuming), and whether a partial was resumed.
    async fn download_once(
        &self,
        url: &str,
        part: &Path,
        want_size: u64,
        bar: &ProgressBar,
    ) -> Result<(String, bool), Step> {
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let have = if have > want_size { 0 } else { have };
        if have == want_size && want_size > 0 {
            return crate::fs::sha256_file(part)
                .map(|h| (h, true))
                .map_err(|e| Step::Fatal(FetchError::io(part, e)));
        }
        let mut rb = self.request(url).map_err(Step::Fatal)?;
        if have > 0 {
            rb = rb.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let mut resp = match rb.send().await {
            Ok(r) => r,
            Err(e) if retryable(&e) => return Err(Step::Retry(self.failure(&e))),
            Err(e) => return Err(Step::Fatal(http_err(url, &e))),
        };
        let status = resp.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(match self.retry_after(url, &resp).map_err(Step::Fatal)? {
                Some(wait) => Step::RetryAfter(format!("HTTP {status}"), wait),
                None => Step::Retry(format!("HTTP {status}")),
            });
        }
        if have > 0 && status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            // The mirror's file is shorter than the partial: the partial is not of this file.
            return Err(Step::Restart(format!(
                "HTTP {status} when resuming after {have} bytes"
            )));
        }
        if !status.is_success() {
            return Err(Step::Fatal(FetchError::Status {
                url: url.into(),
                status: status.as_u16(),
            }));
        }
        let append = status == reqwest::StatusCode::PARTIAL_CONTENT && have > 0;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(part)
            .map_err(|e| Step::Fatal(FetchError::io(part, e)))?;
        let mut hasher = Sha256::new();
        if append {
            let mut f =
                std::fs::File::open(part).map_err(|e| Step::Fatal(FetchError::io(part, e)))?;
            std::io::copy(&mut f, &mut crate::fs::Sha256Writer(&mut hasher))
                .map_err(|e| Step::Fatal(FetchError::io(part, e)))?;
        }
        let mut written = if append { have } else { 0 };
        bar.set_position(written);
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    written += chunk.len() as u64;
                    if written > want_size {
                        // More than the index promises: never keep it.
                        drop(file);
                        let _ = std::fs::remove_file(part);
                        if append {
                            return Err(Step::Restart(format!(
                                "more than {want_size} bytes after resuming at {have}"
                            )));
                        }
                        return Err(Step::Fatal(FetchError::Size {
                            url: url.into(),
                            got: written,
                            want: want_size,
                        }));
                    }
                    file.write_all(&chunk)
                        .map_err(|e| Step::Fatal(FetchError::io(part, e)))?;
                    hasher.update(&chunk);
                    bar.set_position(written);
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = file.flush();
                    let why = if e.is_timeout() {
                        self.failure(&e)
                    } else {
                        format!("the connection broke: {}", error_chain(&e))
                    };
                    return Err(Step::Retry(format!("after {written} bytes: {why}")));
                }
            }
        }
        file.flush()
            .map_err(|e| Step::Fatal(FetchError::io(part, e)))?;
        if written < want_size {
            return Err(Step::Retry(format!(
                "the body ended after {written} of {want_size} bytes"
            )));
        }
        Ok((hex::encode(hasher.finalize()), append))
    }
}

enum Step {
    Retry(String),
    /// Retry after the wait the server asked for.
    RetryAfter(String, Duration),
    /// The partial on disk is not of this file: discard it and start again.
    Restart(String),
    Fatal(FetchError),
}

/// The wait a `429` or `503` response asks for with `Retry-After`: seconds, or an HTTP date
/// (a date in the past asks for none). `None` for other responses and unreadable values.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    if !matches!(resp.status().as_u16(), 429 | 503) {
        return None;
    }
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    parse_retry_after(v, std::time::SystemTime::now())
}

fn parse_retry_after(v: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
    let when = u128::try_from(when.timestamp_millis()).unwrap_or(0);
    Some(Duration::from_millis(
        u64::try_from(when.saturating_sub(now)).unwrap_or(u64::MAX),
    ))
}

/// An error and its causes, `: `-separated.
fn error_chain(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    message
}

fn http_err(url: &str, e: &reqwest::Error) -> FetchError {
    FetchError::Http {
        url: url.into(),
        message: error_chain(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
