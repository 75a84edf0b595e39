//! Keys and signatures: `keygen`, `sign`, and where a publisher's signing key comes from.

use crate::bundle;
use crate::fs::write_atomic;
use crate::index::archive_trusted_comment;
use crate::sign::{Signer, generate};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The password of an encrypted secret key: `$PTD_SIGNING_KEY_PASSWORD`, if set.
pub fn password_from_env() -> Option<String> {
    std::env::var("PTD_SIGNING_KEY_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
}

/// Whether a signing key was named: `--key FILE` or `$PTD_SIGNING_KEY`.
pub fn key_given(key: Option<&Path>) -> bool {
    key.is_some() || std::env::var("PTD_SIGNING_KEY").is_ok_and(|v| !v.is_empty())
}

/// Where a signing key comes from: `--key FILE`, else `$PTD_SIGNING_KEY` (a path, or the key
/// file's text itself, as CI secrets hold it); its password from `$PTD_SIGNING_KEY_PASSWORD`.
pub fn signer(key: Option<&Path>) -> Result<Signer> {
    let password = password_from_env();
    if let Some(k) = key {
        return Ok(Signer::read(k, password.as_deref())?);
    }
    match std::env::var("PTD_SIGNING_KEY") {
        Ok(v) if v.trim_start().starts_with("untrusted comment:") => Ok(Signer::from_secret_file(
            &v,
            password.as_deref(),
            "$PTD_SIGNING_KEY",
        )?),
        Ok(v) if !v.is_empty() => Ok(Signer::read(Path::new(&v), password.as_deref())?),
        _ => Err(Error::Usage(
            "no signing key: pass --key FILE or set PTD_SIGNING_KEY (a path or the key itself)"
                .into(),
        )),
    }
}

/// The files `keygen` wrote.
#[derive(Debug, serde::Serialize)]
pub struct KeyFiles {
    pub secret: PathBuf,
    pub public: PathBuf,
    pub key_id: String,
    pub public_key: String,
}

/// `ptd keygen`: writes `<base>.key` (mode 0600) and `<base>.pub`, minisign's formats.
pub fn keygen(base: &Path, password: Option<&str>, force: bool) -> Result<KeyFiles> {
    let secret = base.with_extension("key");
    let public = base.with_extension("pub");
    for p in [&secret, &public] {
        if p.exists() && !force {
            return Err(Error::Usage(format!(
                "{} exists; pass --force to replace it (its signatures will no longer verify with a new key)",
                p.display()
            )));
        }
    }
    let k = generate(password)?;
    if let Some(d) = secret.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    write_secret(&secret, k.secret_file.as_bytes())?;
    write_atomic(&public, k.public_file.as_bytes()).map_err(|e| Error::io(&public, e))?;
    Ok(KeyFiles {
        secret,
        public,
        key_id: k.key_id,
        public_key: k.public_key,
    })
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(path, e))?;
    }
    std::io::Write::write_all(&mut tmp, bytes).map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// `ptd sign FILE`: writes `FILE.minisig`. A bundle archive gets the trusted comment ptd checks
/// on install (model, version, content hash) unless another is given.
pub fn sign_file(file: &Path, signer: &Signer, comment: Option<&str>) -> Result<PathBuf> {
    let data = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    let comment = match comment {
        Some(c) => c.to_string(),
        None if bundle::looks_like_bundle(&data) => {
            let b = bundle::unpack(&data, &file.display().to_string())?;
            archive_trusted_comment(
                &b.manifest.name,
                &b.manifest.version,
                &b.manifest.content_hash,
            )
        }
        None => format!(
            "file:{}",
            file.file_name().unwrap_or_default().to_string_lossy()
        ),
    };
    let sig = signer.sign(&data, &comment)?;
    let out = PathBuf::from(format!("{}.minisig", file.display()));
    write_atomic(&out, sig.as_bytes()).map_err(|e| Error::io(&out, e))?;
    Ok(out)
}
