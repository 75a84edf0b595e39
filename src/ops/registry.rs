//! A registry's index directory: creating one (`ptd registry init`: name, default artifact
//! location, key pair, README), finding the key that signs it, resolving a publisher's
//! `--registry`, and yanking.

use crate::index::ArtifactLocation;
use crate::publish::store::Store;
use crate::publish::{IndexDir, PublishError};
use crate::sign::Signer;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The name of a registry made in `dir`: `name` if given, else the directory's own name, which
/// must then be a plain word (letters, digits, `.`, `_`, `-`).
pub fn registry_name(dir: &Path, name: Option<&str>) -> Result<String> {
    if let Some(n) = name {
        return Ok(n.to_string());
    }
    let abs = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
    let base = abs
        .components()
        .next_back()
        .and_then(|c| match c {
            std::path::Component::Normal(n) => n.to_str(),
            _ => None,
        })
        .unwrap_or_default();
    let plain = !base.is_empty()
        && !base.starts_with('.')
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plain {
        return Err(Error::Usage(format!(
            "{}: the registry's name defaults to the directory's name, and '{base}' is not a plain name (letters, digits, '.', '_', '-'); pass --name NAME",
            dir.display()
        )));
    }
    Ok(base.to_string())
}

/// The artifact location a directory registry made without `--artifacts` gets: the directory
/// `<DIR>-archives` beside it (outside the index, so that archives are neither hashed into the
/// snapshot nor committed with the index), as an absolute `file://` URL; the directory is made.
pub fn default_artifacts(dir: &Path) -> Result<ArtifactLocation> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let abs = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let (Some(parent), Some(base)) = (abs.parent(), abs.file_name()) else {
        return Err(Error::Usage(format!(
            "{}: no directory beside it can hold the archives; pass --artifacts URL",
            abs.display()
        )));
    };
    let archives = parent.join(format!("{}-archives", base.to_string_lossy()));
    std::fs::create_dir_all(&archives).map_err(|e| Error::io(&archives, e))?;
    Ok(crate::publish::store::dir_location(&archives)?)
}

/// `ptd registry init DIR`: `config.json`, a first signed snapshot and a `README.md` that
/// tells users how to reach the registry and which key to pin, and publishers how to publish.
/// Without artifact locations, the registry gets [`default_artifacts`]. `key_file` is where
/// the secret key is, when it was made here (under `$PTD_HOME/keys/`).
pub fn registry_init(
    dir: &Path,
    name: &str,
    mut artifacts: Vec<ArtifactLocation>,
    signer: &Signer,
    key_file: Option<&Path>,
) -> Result<()> {
    if dir.join("config.json").exists() {
        return Err(PublishError::Refused(format!(
            "{}: a registry already exists here",
            dir.join("config.json").display()
        ))
        .into());
    }
    if artifacts.is_empty() {
        artifacts.push(default_artifacts(dir)?);
    }
    IndexDir::new(dir).init(name, artifacts.clone(), signer)?;
    let readme = dir.join("README.md");
    if !readme.exists() {
        let here = dir
            .canonicalize()
            .map_err(|e| Error::io(dir, e))?
            .display()
            .to_string();
        let locations: String = artifacts
            .iter()
            .map(|a| format!("- `{}` ({})\n", a.url(), a.kind()))
            .collect();
        let writable: Vec<&ArtifactLocation> = artifacts
            .iter()
            .filter(|a| matches!(Store::from_location(a), Ok(Some(_))))
            .collect();
        let store_note = match writable.first() {
            Some(a) => format!("Archives go to `{}`, the first location ptd can write.", a.url()),
            None => "None of these locations is one ptd can write: add `--store DIR|s3://BUCKET/PREFIX|github:OWNER/REPO`\n(it is then added to the locations above).".to_string(),
        };
        let key_note = match key_file {
            Some(k) => format!(
                "The secret key is `{}`\n\
                 (never put it in this directory): `ptd publish` and `ptd yank` find it there by its id;\n\
                 elsewhere (CI) pass `--key FILE` or put the key file's text in `PTD_SIGNING_KEY`.\n\
                 An encrypted key's password comes from `PTD_SIGNING_KEY_PASSWORD`.",
                k.display()
            ),
            None => "`ptd publish` and `ptd yank` find the secret key under `$PTD_HOME/keys/` (as `<name>.key` beside\n\
                 its `<name>.pub`) by its id; elsewhere pass `--key FILE` or put the key file's text in\n\
                 `PTD_SIGNING_KEY`. An encrypted key's password comes from `PTD_SIGNING_KEY_PASSWORD`."
                .to_string(),
        };
        let text = format!(
            "# ptd registry `{name}`\n\n\
             This directory is a ptd registry index (format 1, see ptd's `docs/registry-protocol.md`):\n\
             `config.json`, one file of JSON lines per model under `<namespace>/<name>`, and\n\
             `snapshot.json`, signed in `snapshot.json.minisig`.\n\n\
             Archives are downloaded from, in order:\n\n{locations}\n\
             Index and archives are signed with minisign key `{id}`:\n\n    {pk}\n\n\
             ## Using it\n\n\
             Add it to `$PTD_HOME/config.toml` (default `~/.ptd/config.toml`), pinning the key (`index` is\n\
             this directory; use its URL where it is served over HTTP):\n\n\
             ```toml\n[registries.{name}]\nindex = \"{here}\"\nkeys = [\"{pk}\"]\n```\n\n\
             then `ptd install --registry {name} NAMESPACE/MODEL@REQ`, or `registry = \"{name}\"` in a\n\
             project's `ptd.toml`.\n\n\
             ## Publishing\n\n\
             ```sh\nptd publish <model dir> --registry {here}\nptd yank NAMESPACE/MODEL@VERSION --registry {here}\n```\n\n\
             `ptd publish` builds, signs and uploads the archive, then adds its line here and re-signs the\n\
             snapshot; commit the result. `ptd yank` marks a version yanked (`--undo` reverses it).\n\
             {store_note}\n\n\
             {key_note}\n\n\
             Never edit the index files by hand without `ptd registry resign`.\n",
            id = signer.key_id,
            pk = signer.public_key(),
        );
        crate::fs::write_atomic(&readme, text.as_bytes()).map_err(|e| Error::io(&readme, e))?;
    }
    Ok(())
}

/// The secret key that signs changes to the registry whose index is `index` (a directory, if
/// known): `key` (`--key`), else `$PTD_SIGNING_KEY`, else the key pair under `$PTD_HOME/keys/`
/// (`<name>.key` beside `<name>.pub`) whose public key is one of the registry's keys in its
/// `config.json`. The password of an encrypted key comes from `$PTD_SIGNING_KEY_PASSWORD`.
pub fn registry_signer(key: Option<&Path>, index: Option<&Path>) -> Result<Signer> {
    let (false, Some(index)) = (super::keys::key_given(key), index) else {
        return super::keys::signer(key);
    };
    let config = IndexDir::new(index).config()?;
    let home = crate::install::Home::from_env();
    let keys = home.root.join("keys");
    let ids: Vec<&str> = config.keys.iter().map(|k| k.id.as_str()).collect();
    let mut publics: Vec<PathBuf> = match std::fs::read_dir(&keys) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pub"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io(&keys, e)),
    };
    publics.sort();
    let mut unpaired = Vec::new();
    for public in &publics {
        let Ok(text) = std::fs::read_to_string(public) else {
            continue;
        };
        let Ok(pk) = crate::sign::TrustedKey::parse(&text) else {
            continue;
        };
        if !ids.contains(&pk.key_id.as_str()) {
            continue;
        }
        let secret = public.with_extension("key");
        if !secret.exists() {
            unpaired.push(format!("{} has no {}", public.display(), secret.display()));
            continue;
        }
        let password = super::keys::password_from_env();
        return match Signer::read(&secret, password.as_deref()) {
            Ok(s) => Ok(s),
            Err(e) if password.is_none() => Err(Error::Usage(format!(
                "{}: {e} (an encrypted key needs its password in PTD_SIGNING_KEY_PASSWORD)",
                secret.display()
            ))),
            Err(e) => Err(e.into()),
        };
    }
    let unpaired = if unpaired.is_empty() {
        String::new()
    } else {
        format!(" ({})", unpaired.join("; "))
    };
    Err(Error::Usage(format!(
        "no signing key for registry '{}' (key {}): none of the {} public key file(s) in {} is one of its keys{unpaired}, and neither --key nor PTD_SIGNING_KEY was given; pass --key FILE, set PTD_SIGNING_KEY, or put the key pair there as <name>.key and <name>.pub",
        config.name,
        ids.join(", "),
        publics.len(),
        keys.display()
    )))
}

/// The key a new registry signs with: `key`, else `PTD_SIGNING_KEY`, else a new key pair under
/// `$PTD_HOME/keys/` (made with the password `password` gives, if any); with the new pair's
/// files.
pub fn registry_key(
    key: Option<&Path>,
    name: &str,
    password: impl FnOnce() -> Result<Option<String>>,
) -> Result<(Signer, Option<super::keys::KeyFiles>)> {
    if super::keys::key_given(key) {
        return Ok((super::keys::signer(key)?, None));
    }
    let password = password()?;
    let home = crate::install::Home::from_env();
    let (s, files) = new_registry_key(&home, name, password.as_deref())?;
    Ok((s, Some(files)))
}

/// A new key pair for a new registry, under `$PTD_HOME/keys/<name>.key` / `.pub` (never inside
/// the index, which is published): its signer and files.
pub fn new_registry_key(
    home: &crate::install::Home,
    name: &str,
    password: Option<&str>,
) -> Result<(Signer, super::keys::KeyFiles)> {
    let base = home
        .root
        .join("keys")
        .join(crate::index::registry::state_id(name));
    let files = super::keys::keygen(&base, password, false)?;
    let signer = Signer::read(&files.secret, password)?;
    Ok((signer, files))
}

/// Where a publisher's `--registry` points: a local index directory, or an index in a GitHub
/// repository (changed through a pull request).
pub enum IndexTarget {
    Dir(PathBuf),
    Repo(crate::publish::pull_request::IndexRepo),
}

/// Resolves `--registry`: a name from `$PTD_HOME/config.toml` (its `index`), a directory or
/// `file://` URL, or `https://github.com/OWNER/REPO[/tree/BRANCH[/PATH]]` (PATH defaults to
/// `index_path`, BRANCH to `base`).
pub fn index_target(
    config: &crate::config::Config,
    spec: &str,
    index_path: &str,
    base: &str,
) -> Result<IndexTarget> {
    let spec = config
        .registries
        .get(spec)
        .map(|r| r.index.as_str())
        .unwrap_or(spec);
    if let Some(rest) = spec.strip_prefix("https://github.com/") {
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let (repo, branch, path) = match parts.as_slice() {
            [o, r] => (format!("{o}/{r}"), base.to_string(), index_path.to_string()),
            [o, r, "tree", b, p @ ..] => (
                format!("{o}/{r}"),
                b.to_string(),
                if p.is_empty() {
                    index_path.to_string()
                } else {
                    p.join("/")
                },
            ),
            _ => {
                return Err(Error::Usage(format!(
                    "--registry {spec}: use https://github.com/OWNER/REPO[/tree/BRANCH/PATH]"
                )));
            }
        };
        return Ok(IndexTarget::Repo(
            crate::publish::pull_request::IndexRepo::new(&repo, &path, &branch)?,
        ));
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Err(Error::Usage(format!(
            "--registry {spec}: an index served over HTTP cannot be changed from here; publish into its checkout (a directory) or its GitHub repository"
        )));
    }
    Ok(IndexTarget::Dir(PathBuf::from(
        spec.strip_prefix("file://").unwrap_or(spec),
    )))
}

/// `ptd yank NAME@VERSION [--undo]`.
pub fn yank(
    index_dir: &Path,
    name: &str,
    version: &semver::Version,
    undo: bool,
    signer: &Signer,
) -> Result<()> {
    IndexDir::new(index_dir).yank(name, version, !undo, signer)?;
    Ok(())
}
