//! Verifying what was obtained before anything is placed: a download's signature (made by the
//! key the index names, over these bytes, with the trusted comment that names this version),
//! a bundle's files (every hash recomputed, the DAG checked against the graph), and the
//! manifest against the record it is installed under.

use super::db::Installed;
use super::{InstallError, Wanted};
use crate::bundle;
use crate::model::Variants;
use crate::sign::{Signature, TrustedKey};
use crate::transport::{Miss, Signed};
use std::path::Path;

/// Checks the signature of an archive downloaded into `part` ([`Signed`]); on any failure
/// `part` is removed. A missing signature, or one that could not be read, is a mismatch: an
/// unsigned archive is never installed.
pub(super) async fn signed_download(
    part: &Path,
    signed: &Signed,
    w: &Wanted<'_>,
    keys: &[TrustedKey],
) -> Result<(), InstallError> {
    let e = w.entry;
    let mismatch = |message: String| InstallError::Mismatch {
        name: e.name.clone(),
        version: e.version.to_string(),
        message,
    };
    let sig_text = match &signed.sig {
        Ok(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Err(miss) => {
            let _ = std::fs::remove_file(part);
            return Err(mismatch(match miss {
                Miss::NotThere(_) => {
                    format!("{}: no signature beside the archive", signed.sig_url)
                }
                other => format!("{other}: the signature could not be fetched"),
            }));
        }
    };
    let verified = {
        let (part, keys) = (part.to_path_buf(), keys.to_vec());
        let (key_id, want) = (e.key_id.clone(), w.trusted_comment.clone());
        let (url, sig_url) = (signed.url.clone(), signed.sig_url.clone());
        let what = (e.name.clone(), e.version.to_string());
        tokio::task::spawn_blocking(move || {
            check_signature(
                &part, &sig_text, &sig_url, &url, &key_id, &keys, &want, what,
            )
        })
        .await
        .expect("signature task")
    };
    if verified.is_err() {
        let _ = std::fs::remove_file(part);
    }
    verified
}

/// Checks a downloaded file's minisign signature: made by `key_id`, one of `keys`, over these
/// bytes, with the trusted comment `want`.
#[allow(clippy::too_many_arguments)]
fn check_signature(
    part: &Path,
    sig_text: &str,
    sig_url: &str,
    url: &str,
    key_id: &str,
    keys: &[TrustedKey],
    want: &str,
    (name, version): (String, String),
) -> Result<(), InstallError> {
    let mismatch = |message: String| InstallError::Mismatch {
        name: name.clone(),
        version: version.clone(),
        message,
    };
    let data = std::fs::read(part).map_err(|err| InstallError::io(part, err))?;
    let sig = Signature::parse(sig_text, sig_url)?;
    if sig.key_id != key_id {
        return Err(mismatch(format!(
            "{sig_url} was made by key {}, the index says {key_id}",
            sig.key_id
        )));
    }
    let comment = sig.verify(&data, keys, url)?;
    if comment != want {
        return Err(mismatch(format!(
            "{sig_url}: the signed comment '{comment}' is not '{want}' (a signature of another file)"
        )));
    }
    Ok(())
}

/// A checked bundle's manifest, the variant values its `meta.json` carries, and its files.
pub(super) type CheckedFiles = (bundle::Manifest, Variants, bundle::Files);

/// Verifies and checks a bundle archive ([`bundle::check`]): its files, to extract. (ptd's JAX
/// evaluator is derived later, on first use: [`super::evaluator::derive_evaluator`].)
pub(super) fn checked_files(bytes: &[u8], name: &str) -> Result<CheckedFiles, InstallError> {
    let c = bundle::check(bytes, name, crate::fs::random_u64())?;
    Ok((c.manifest, c.meta.variants, c.files))
}

/// Checks a verified archive's manifest against the record it is to be installed under: model,
/// version, content hash and graph hashes, and that it is the member of its family the record
/// names (`variants`, from its `meta.json`; none for a model that is not a family).
pub(super) fn check_manifest(
    expect: &Installed,
    m: &bundle::Manifest,
    variants: &Variants,
) -> Result<(), InstallError> {
    let mismatch = |message: String| InstallError::Mismatch {
        name: expect.name.clone(),
        version: expect.version.to_string(),
        message,
    };
    if m.name != expect.name || m.version != expect.version {
        return Err(mismatch(format!(
            "the archive holds {} {}",
            m.name, m.version
        )));
    }
    if m.content_hash != expect.content_hash {
        return Err(mismatch(format!(
            "the archive's content hash {} differs from the record's {}",
            m.content_hash, expect.content_hash
        )));
    }
    if m.hashes.phasic != expect.phasic_hash || m.hashes.canonical != expect.canonical_hash {
        return Err(mismatch(
            "the archive's graph hashes differ from the record's".into(),
        ));
    }
    if *variants != expect.variants {
        return Err(mismatch(format!(
            "the bundle is the member '{variants}' of its family but the index line is for '{}'",
            expect.variants
        )));
    }
    Ok(())
}
