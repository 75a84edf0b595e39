//! Obtaining an archive: the one loop over the places it may be, for bundles and platform
//! archives alike. In order: the store itself; the shared cache layer (read-only and unlocked:
//! a missing, damaged or partial copy there is simply not used); then the registry's artifact
//! locations in order of preference, each through its [`Transport`]. A location that has
//! nothing or does not answer is passed over and named if nothing else answers; a download that
//! arrives wrong, or whose signature does not hold, stops the install.

use super::{InstallError, Installer, Origin, SharedLayer, locks_enabled, verify};
use crate::index::IndexEntry;
use crate::transport::{Any, Location, Miss, Transport, Want};
use std::path::{Path, PathBuf};

/// One archive of a version to get into the store.
pub(super) struct Wanted<'a> {
    pub entry: &'a IndexEntry,
    /// Its file name (the `{file}` of the location templates).
    pub file: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    /// The trusted comment its signature must carry.
    pub trusted_comment: String,
}

/// What one location gave instead of the archive.
enum Attempt {
    /// Nothing there, or the transport failed: this is what to say about it.
    PassedOver(String),
    Stop(InstallError),
}

impl From<Miss> for Attempt {
    fn from(m: Miss) -> Attempt {
        match m.passed_over() {
            Some(why) => Attempt::PassedOver(why),
            None => Attempt::Stop(InstallError::Fetch(
                m.into_error().expect("a miss that stops has an error"),
            )),
        }
    }
}

impl Installer<'_> {
    /// Gets an archive into the store (`archives/<sha256>.ptd.tar.zst`); returns how, or the
    /// locations that were tried (none when offline). The caller holds the archive's lock, so
    /// concurrent installs of the same archive download it once.
    pub(super) async fn obtain_archive(
        &self,
        w: &Wanted<'_>,
    ) -> Result<Result<Origin, Vec<String>>, InstallError> {
        let dest = self.home.archive_path(w.sha256);
        if dest.is_file()
            && crate::fetch::verify_file(&dest, &dest.display().to_string(), w.sha256, w.size)
                .is_ok()
        {
            return Ok(Ok(Origin::Store));
        }
        if let Some(layer) = &self.home.shared
            && self.copy_shared(layer, w, &dest).await?
        {
            return Ok(Ok(Origin::Shared(layer.describe())));
        }
        let mut tried = Vec::new();
        if self.offline {
            return Ok(Err(tried));
        }
        for loc in &self.registry.config.artifacts {
            match self.download_from(loc, w, &dest).await {
                Ok(origin) => return Ok(Ok(origin)),
                Err(Attempt::PassedOver(why)) => tried.push(why),
                Err(Attempt::Stop(err)) => return Err(err),
            }
        }
        Ok(Err(tried))
    }

    /// Copies the archive from the shared layer, checking size and SHA-256 (its content
    /// address); whether it was there.
    async fn copy_shared(
        &self,
        layer: &SharedLayer,
        w: &Wanted<'_>,
        dest: &Path,
    ) -> Result<bool, InstallError> {
        let tmp = self.home.tmp();
        std::fs::create_dir_all(&tmp).map_err(|err| InstallError::io(&tmp, err))?;
        let part = tmp.join(format!("{}.{}.part", w.sha256, std::process::id()));
        let key = layer.key(&format!("archives/{}.ptd.tar.zst", w.sha256));
        let label = label(w.entry);
        let copied = match layer.transport(self.http.options().limits) {
            Ok(t) => t.download(&key, &part, want(w, &label)).await.is_ok(),
            Err(_) => false,
        };
        if copied {
            std::fs::rename(&part, dest).map_err(|err| InstallError::io(dest, err))?;
        } else {
            let _ = std::fs::remove_file(&part);
        }
        Ok(copied)
    }

    /// Downloads the archive and its signature from one location, verifies both, then moves
    /// the archive into the store. On any failure nothing is left behind but a partial download
    /// that a later attempt may resume.
    async fn download_from(
        &self,
        loc: &Location,
        w: &Wanted<'_>,
        dest: &Path,
    ) -> Result<Origin, Attempt> {
        let transport = Any::open(loc, self.http)?;
        let part = self.part_path(w.sha256);
        let label = label(w.entry);
        let signed = transport
            .download_signed(
                &loc.address(w.entry.release(), w.file),
                &part,
                want(w, &label),
            )
            .await?;
        verify::signed_download(&part, &signed, w, &self.registry.keys)
            .await
            .map_err(Attempt::Stop)?;
        let placed = dest
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::rename(&part, dest));
        placed.map_err(|err| Attempt::Stop(InstallError::io(dest, err)))?;
        Ok(Origin::Downloaded(signed.url))
    }

    /// The partial file of a download. With locks, one process at a time writes it and a later
    /// attempt can resume it; without them each process writes its own.
    fn part_path(&self, sha256: &str) -> PathBuf {
        if locks_enabled() {
            self.home.tmp().join(format!("{sha256}.part"))
        } else {
            self.home
                .tmp()
                .join(format!("{sha256}.{}.part", std::process::id()))
        }
    }

    /// The error for an archive no source had: what was tried, and whether downloads were off.
    pub(super) fn unavailable(
        &self,
        e: &IndexEntry,
        version: String,
        tried: Vec<String>,
    ) -> InstallError {
        InstallError::Unavailable {
            name: e.name.clone(),
            version,
            offline: if self.offline {
                " (--offline: nothing is downloaded)"
            } else {
                ""
            },
            tried: if tried.is_empty() {
                "no location was tried".into()
            } else {
                tried.join("\n  ")
            },
        }
    }
}

fn label(e: &IndexEntry) -> String {
    format!("{} {}", e.name, e.version)
}

fn want<'a>(w: &'a Wanted<'_>, label: &'a str) -> Want<'a> {
    Want {
        sha256: w.sha256,
        size: w.size,
        label,
    }
}
