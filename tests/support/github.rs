//! A stand-in for GitHub's releases API, following GitHub's documented requests and responses:
//! an API host (token required: 401 "Requires authentication" / "Bad credentials"), a separate
//! upload host (the release's `upload_url`), and a download host where `browser_download_url`
//! redirects (302) to storage. 404 and 422 ("Validation Failed", `already_exists`) bodies have
//! GitHub's shape. One repository, `owner/repo`, as the test names it.
#![allow(dead_code)]

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
struct Asset {
    id: u64,
    name: String,
    label: Option<String>,
    content_type: String,
    data: Vec<u8>,
}

#[derive(Clone, Debug)]
struct Release {
    id: u64,
    tag: String,
    name: Option<String>,
    body: Option<String>,
    assets: Vec<Asset>,
}

#[derive(Default)]
struct State {
    /// Branch → (head commit sha, files by path).
    branches:
        std::collections::BTreeMap<String, (String, std::collections::BTreeMap<String, Vec<u8>>)>,
    /// Pull requests: (number, title, head, base, body).
    pulls: Vec<(u64, String, String, String, String)>,
    commits: u64,
    /// Release downloads need the API (the repository is private).
    private: bool,
    releases: Vec<Release>,
    next_id: u64,
    /// (host, method, path, authorization header)
    log: Vec<(String, String, String, Option<String>)>,
}

pub struct GitHub {
    pub owner: String,
    pub repo: String,
    pub token: String,
    api: u16,
    uploads: u16,
    downloads: u16,
    state: Arc<Mutex<State>>,
}

struct Req {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    }
    fn param(&self, n: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == n).then(|| v.replace("%20", " "))
        })
    }
}

fn read_req(r: &mut BufReader<TcpStream>) -> Option<Req> {
    let raw = super::http_server::read_raw_request(r)?;
    let (path, query) = match raw.target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (raw.target.clone(), String::new()),
    };
    Some(Req {
        method: raw.method,
        path,
        query,
        headers: raw.headers,
        body: raw.body,
    })
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn json(status: u16, v: serde_json::Value) -> Resp {
    Resp {
        status,
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: serde_json::to_vec(&v).unwrap(),
    }
}

fn not_found() -> Resp {
    json(
        404,
        serde_json::json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}),
    )
}

fn already_exists(resource: &str, field: &str) -> Resp {
    json(
        422,
        serde_json::json!({
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": "already_exists", "field": field}],
            "documentation_url": "https://docs.github.com/rest/releases",
            "status": "422"
        }),
    )
}

fn redirect(to: String) -> Resp {
    Resp {
        status: 302,
        headers: vec![("Location".into(), to)],
        body: Vec::new(),
    }
}

const TIME: &str = "2026-11-24T12:00:00Z";

/// A stable 40-hex identifier of some bytes (stands for git's blob and commit ids).
fn blob_sha(b: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut out = String::new();
    for round in 0..3u8 {
        for x in b.iter().chain(std::iter::once(&round)) {
            h ^= u64::from(*x);
            h = h.wrapping_mul(0x100000001b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out[..40].to_string()
}

impl GitHub {
    pub fn start(owner: &str, repo: &str, token: &str) -> GitHub {
        let bind = || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            (l, p)
        };
        let (la, api) = bind();
        let (lu, uploads) = bind();
        let (ld, downloads) = bind();
        let gh = GitHub {
            owner: owner.into(),
            repo: repo.into(),
            token: token.into(),
            api,
            uploads,
            downloads,
            state: Arc::new(Mutex::new(State {
                next_id: 1000,
                ..Default::default()
            })),
        };
        for (l, host) in [(la, "api"), (lu, "uploads"), (ld, "downloads")] {
            let me = gh.handle();
            std::thread::spawn(move || {
                for c in l.incoming().flatten() {
                    let me = me.clone();
                    std::thread::spawn(move || me.serve(c, host));
                }
            });
        }
        gh
    }

    fn handle(&self) -> Arc<Handle> {
        Arc::new(Handle {
            owner: self.owner.clone(),
            repo: self.repo.clone(),
            token: self.token.clone(),
            api: self.api_url(),
            uploads: self.uploads_url(),
            downloads: self.downloads_url(),
            state: self.state.clone(),
        })
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api)
    }
    pub fn uploads_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.uploads)
    }
    pub fn downloads_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.downloads)
    }
    /// The artifact location template of this repository's release assets.
    pub fn download_template(&self) -> String {
        format!(
            "{}/{}/{}/releases/download/{{tag}}/{{file}}",
            self.downloads_url(),
            self.owner,
            self.repo
        )
    }
    /// Release tags and their asset names.
    pub fn releases(&self) -> Vec<(String, Vec<String>)> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.releases
            .iter()
            .map(|r| {
                (
                    r.tag.clone(),
                    r.assets.iter().map(|a| a.name.clone()).collect(),
                )
            })
            .collect()
    }
    /// Puts files on a branch (creating it), as a commit.
    pub fn seed(&self, branch: &str, files: &[(String, Vec<u8>)]) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.commits += 1;
        let sha = blob_sha(format!("commit{}", s.commits).as_bytes());
        let entry = s
            .branches
            .entry(branch.to_string())
            .or_insert_with(|| (String::new(), Default::default()));
        entry.0 = sha;
        for (p, b) in files {
            entry.1.insert(p.clone(), b.clone());
        }
    }
    /// The files of a branch, if it exists.
    pub fn branch(&self, branch: &str) -> Option<std::collections::BTreeMap<String, Vec<u8>>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.branches.get(branch).map(|(_, f)| f.clone())
    }
    /// Makes the repository private: its public download URLs (`browser_download_url`) answer
    /// 404, with or without a token, as GitHub's do; assets come through the API only.
    pub fn set_private(&self, private: bool) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).private = private;
    }
    /// Open pull requests: (number, title, head, base, body).
    pub fn pulls(&self) -> Vec<(u64, String, String, String, String)> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pulls
            .clone()
    }
    /// Requests seen: (host, method, path, Authorization header).
    pub fn log(&self) -> Vec<(String, String, String, Option<String>)> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log
            .clone()
    }
}

struct Handle {
    owner: String,
    repo: String,
    token: String,
    api: String,
    uploads: String,
    downloads: String,
    state: Arc<Mutex<State>>,
}

impl Handle {
    fn serve(&self, c: TcpStream, host: &str) {
        let Ok(w) = c.try_clone() else { return };
        let mut r = BufReader::new(c);
        let mut w = w;
        while let Some(req) = read_req(&mut r) {
            self.state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .log
                .push((
                    host.into(),
                    req.method.clone(),
                    req.path.clone(),
                    req.header("authorization").map(str::to_string),
                ));
            let resp = match host {
                "api" => self.auth(&req).unwrap_or_else(|| self.api(&req)),
                "uploads" => self.auth(&req).unwrap_or_else(|| self.upload(&req)),
                _ => self.download(&req),
            };
            let mut head = format!(
                "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
                resp.status,
                resp.body.len()
            );
            for (k, v) in &resp.headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            if w.write_all(head.as_bytes()).is_err() || w.write_all(&resp.body).is_err() {
                return;
            }
        }
    }

    fn auth(&self, req: &Req) -> Option<Resp> {
        match req.header("authorization") {
            None => Some(json(
                401,
                serde_json::json!({"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
            )),
            Some(h)
                if h == format!("Bearer {}", self.token)
                    || h == format!("token {}", self.token) =>
            {
                None
            }
            Some(_) => Some(json(
                401,
                serde_json::json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
            )),
        }
    }

    fn release_json(&self, r: &Release) -> serde_json::Value {
        let base = format!("{}/repos/{}/{}/releases", self.api, self.owner, self.repo);
        serde_json::json!({
            "url": format!("{base}/{}", r.id),
            "html_url": format!("{}/{}/{}/releases/tag/{}", self.downloads, self.owner, self.repo, r.tag),
            "assets_url": format!("{base}/{}/assets", r.id),
            "upload_url": format!("{}/repos/{}/{}/releases/{}/assets{{?name,label}}", self.uploads, self.owner, self.repo, r.id),
            "tarball_url": null,
            "zipball_url": null,
            "id": r.id,
            "node_id": format!("RE_{}", r.id),
            "tag_name": r.tag,
            "target_commitish": "main",
            "name": r.name,
            "body": r.body,
            "draft": false,
            "prerelease": false,
            "created_at": TIME,
            "published_at": TIME,
            "author": null,
            "assets": r.assets.iter().map(|a| self.asset_json(r, a)).collect::<Vec<_>>(),
        })
    }

    fn asset_json(&self, r: &Release, a: &Asset) -> serde_json::Value {
        serde_json::json!({
            "url": format!("{}/repos/{}/{}/releases/assets/{}", self.api, self.owner, self.repo, a.id),
            "browser_download_url": format!("{}/{}/{}/releases/download/{}/{}", self.downloads, self.owner, self.repo, r.tag, a.name),
            "id": a.id,
            "node_id": format!("RA_{}", a.id),
            "name": a.name,
            "label": a.label,
            "state": "uploaded",
            "content_type": a.content_type,
            "size": a.data.len(),
            "digest": null,
            "download_count": 0,
            "created_at": TIME,
            "updated_at": TIME,
            "uploader": null,
        })
    }

    fn api(&self, req: &Req) -> Resp {
        let repo_prefix = format!("/repos/{}/{}/", self.owner, self.repo);
        if let Some(rest) = req.path.strip_prefix(&repo_prefix)
            && !rest.starts_with("releases")
        {
            return self.repo_api(req, rest);
        }
        let prefix = format!("/repos/{}/{}/releases", self.owner, self.repo);
        let Some(rest) = req.path.strip_prefix(&prefix) else {
            return not_found();
        };
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match (req.method.as_str(), parts.as_slice()) {
            ("POST", [""]) => {
                let v: serde_json::Value = match serde_json::from_slice(&req.body) {
                    Ok(v) => v,
                    Err(_) => {
                        return json(400, serde_json::json!({"message": "Problems parsing JSON"}));
                    }
                };
                let Some(tag) = v["tag_name"].as_str() else {
                    return json(
                        422,
                        serde_json::json!({"message": "Validation Failed", "errors": [{"resource": "Release", "code": "missing_field", "field": "tag_name"}]}),
                    );
                };
                if s.releases.iter().any(|r| r.tag == tag) {
                    return already_exists("Release", "tag_name");
                }
                s.next_id += 1;
                let r = Release {
                    id: s.next_id,
                    tag: tag.into(),
                    name: v["name"].as_str().map(str::to_string),
                    body: v["body"].as_str().map(str::to_string),
                    assets: Vec::new(),
                };
                s.releases.push(r.clone());
                json(201, self.release_json(&r))
            }
            ("GET", ["tags", tag]) => match s.releases.iter().find(|r| r.tag == *tag) {
                Some(r) => json(200, self.release_json(r)),
                None => not_found(),
            },
            ("GET", ["assets", id]) => {
                let id: u64 = id.parse().unwrap_or(0);
                for r in &s.releases {
                    if let Some(a) = r.assets.iter().find(|a| a.id == id) {
                        if req.header("accept") == Some("application/octet-stream") {
                            return redirect(format!("{}/storage/{id}", self.downloads));
                        }
                        return json(200, self.asset_json(r, a));
                    }
                }
                not_found()
            }
            ("GET", [id]) => match s.releases.iter().find(|r| id.parse() == Ok(r.id)) {
                Some(r) => json(200, self.release_json(r)),
                None => not_found(),
            },
            ("GET", [id, "assets"]) => match s.releases.iter().find(|r| id.parse() == Ok(r.id)) {
                Some(r) => {
                    let page: usize = req.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                    let per: usize = req
                        .param("per_page")
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(30);
                    let list: Vec<_> = r
                        .assets
                        .iter()
                        .skip((page - 1) * per)
                        .take(per)
                        .map(|a| self.asset_json(r, a))
                        .collect();
                    json(200, serde_json::Value::Array(list))
                }
                None => not_found(),
            },
            _ => not_found(),
        }
    }

    fn content_json(&self, path: &str, data: &[u8]) -> serde_json::Value {
        use base64::Engine;
        serde_json::json!({
            "type": "file",
            "encoding": "base64",
            "size": data.len(),
            "name": path.rsplit('/').next().unwrap_or(path),
            "path": path,
            "content": base64::engine::general_purpose::STANDARD.encode(data),
            "sha": blob_sha(data),
            "url": format!("{}/repos/{}/{}/contents/{path}", self.api, self.owner, self.repo),
            "git_url": null,
            "html_url": null,
            "download_url": null,
            "_links": {"self": "", "git": null, "html": null},
        })
    }

    /// Git refs, contents and pull requests.
    fn repo_api(&self, req: &Req, rest: &str) -> Resp {
        use base64::Engine;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(branch) = rest.strip_prefix("git/ref/heads/") {
            return match s.branches.get(branch) {
                Some((sha, _)) if req.method == "GET" => json(
                    200,
                    serde_json::json!({"ref": format!("refs/heads/{branch}"), "node_id": "REF", "url": "", "object": {"sha": sha, "type": "commit", "url": ""}}),
                ),
                _ => not_found(),
            };
        }
        if rest == "git/refs" && req.method == "POST" {
            let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let (Some(r), Some(sha)) = (v["ref"].as_str(), v["sha"].as_str()) else {
                return json(422, serde_json::json!({"message": "Invalid request."}));
            };
            let Some(name) = r.strip_prefix("refs/heads/") else {
                return json(
                    422,
                    serde_json::json!({"message": "Reference name is invalid"}),
                );
            };
            if s.branches.contains_key(name) {
                return json(
                    422,
                    serde_json::json!({"message": "Reference already exists"}),
                );
            }
            let Some(files) = s
                .branches
                .values()
                .find(|(h, _)| h == sha)
                .map(|(_, f)| f.clone())
            else {
                return json(422, serde_json::json!({"message": "Object does not exist"}));
            };
            s.branches.insert(name.into(), (sha.into(), files));
            return json(
                201,
                serde_json::json!({"ref": r, "node_id": "REF", "url": "", "object": {"sha": sha, "type": "commit", "url": ""}}),
            );
        }
        if let Some(path) = rest.strip_prefix("contents/") {
            let branch = req.param("ref").unwrap_or_else(|| "main".into());
            if req.method == "GET" {
                return match s.branches.get(&branch).and_then(|(_, f)| f.get(path)) {
                    Some(d) => json(200, self.content_json(path, d)),
                    None => not_found(),
                };
            }
            if req.method == "PUT" {
                let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let branch = v["branch"].as_str().unwrap_or("main").to_string();
                let Some(data) = v["content"]
                    .as_str()
                    .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
                else {
                    return json(
                        422,
                        serde_json::json!({"message": "content is not valid Base64"}),
                    );
                };
                s.commits += 1;
                let commit = blob_sha(format!("commit{}", s.commits).as_bytes());
                let Some((head, files)) = s.branches.get_mut(&branch) else {
                    return json(
                        404,
                        serde_json::json!({"message": format!("Branch {branch} not found")}),
                    );
                };
                let status = match (files.get(path), v["sha"].as_str()) {
                    (Some(_), None) => {
                        return json(
                            422,
                            serde_json::json!({"message": "Invalid request.\n\n\"sha\" wasn't supplied."}),
                        );
                    }
                    (Some(old), Some(sha)) if blob_sha(old) != sha => {
                        return json(
                            409,
                            serde_json::json!({"message": format!("{path} does not match {sha}")}),
                        );
                    }
                    (Some(_), Some(_)) => 200,
                    (None, _) => 201,
                };
                files.insert(path.to_string(), data.clone());
                *head = commit.clone();
                return json(
                    status,
                    serde_json::json!({"content": self.content_json(path, &data), "commit": {"sha": commit, "message": v["message"]}}),
                );
            }
        }
        if rest == "pulls" && req.method == "POST" {
            let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
            let head = v["head"].as_str().unwrap_or_default().to_string();
            let base = v["base"].as_str().unwrap_or_default().to_string();
            if !s.branches.contains_key(&head) || !s.branches.contains_key(&base) {
                return json(
                    422,
                    serde_json::json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]}),
                );
            }
            let number = s.pulls.len() as u64 + 1;
            s.pulls.push((
                number,
                v["title"].as_str().unwrap_or_default().into(),
                head.clone(),
                base.clone(),
                v["body"].as_str().unwrap_or_default().into(),
            ));
            let url = format!(
                "{}/repos/{}/{}/pulls/{number}",
                self.api, self.owner, self.repo
            );
            return json(
                201,
                serde_json::json!({
                    "id": 5000 + number, "number": number, "url": url, "state": "open",
                    "html_url": format!("{}/{}/{}/pull/{number}", self.downloads, self.owner, self.repo),
                    "title": v["title"], "body": v["body"],
                    "head": {"ref": head, "sha": s.branches[&head].0, "label": null},
                    "base": {"ref": base, "sha": s.branches[&base].0, "label": null},
                }),
            );
        }
        not_found()
    }

    fn upload(&self, req: &Req) -> Resp {
        let prefix = format!("/repos/{}/{}/releases/", self.owner, self.repo);
        let Some(id) = req
            .path
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix("/assets"))
            .and_then(|i| i.parse::<u64>().ok())
        else {
            return not_found();
        };
        if req.method != "POST" {
            return not_found();
        }
        let Some(name) = req.param("name") else {
            return json(
                422,
                serde_json::json!({"message": "Validation Failed", "errors": [{"resource": "ReleaseAsset", "code": "missing_field", "field": "name"}]}),
            );
        };
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.next_id += 1;
        let aid = s.next_id;
        let Some(r) = s.releases.iter_mut().find(|r| r.id == id) else {
            return not_found();
        };
        if r.assets.iter().any(|a| a.name == name) {
            return already_exists("ReleaseAsset", "name");
        }
        let a = Asset {
            id: aid,
            name,
            label: req.param("label"),
            content_type: req
                .header("content-type")
                .unwrap_or("application/octet-stream")
                .to_string(),
            data: req.body.clone(),
        };
        r.assets.push(a.clone());
        let r = r.clone();
        json(201, self.asset_json(&r, &a))
    }

    fn download(&self, req: &Req) -> Resp {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = req.path.strip_prefix("/storage/") {
            for r in &s.releases {
                if let Some(a) = r.assets.iter().find(|a| id.parse() == Ok(a.id)) {
                    return Resp {
                        status: 200,
                        headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                        body: a.data.clone(),
                    };
                }
            }
            return not_found();
        }
        let prefix = format!("/{}/{}/releases/download/", self.owner, self.repo);
        if s.private {
            return not_found();
        }
        if let Some((tag, name)) = req
            .path
            .strip_prefix(&prefix)
            .and_then(|r| r.split_once('/'))
        {
            for r in s.releases.iter().filter(|r| r.tag == tag) {
                if let Some(a) = r.assets.iter().find(|a| a.name == name) {
                    return redirect(format!("{}/storage/{}", self.downloads, a.id));
                }
            }
        }
        not_found()
    }
}
