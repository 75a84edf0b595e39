//! A version's platform archives (JAX compilation-cache entries for this machine's tag,
//! phasic's elimination artifact in a format the user's phasic reads), and versions that are
//! phasic's artifact alone. They are obtained through the same loop as bundles and verified the
//! same way, then their descriptions must name this version.

use super::db::Installed;
use super::obtain::Wanted;
use super::place::place_phasic;
use super::{
    Extras, InstallError, Installer, Outcome, lock_file, now_rfc3339, platform_trusted_comment,
    refuse_stored,
};
use crate::bundle;
use crate::index::{IndexEntry, PlatformArtifact};

impl Installer<'_> {
    /// The version's platform archives that fit this machine: the JAX compilation-cache entries
    /// built for this machine's tag, and phasic's own elimination artifact in the newest format
    /// revision the user's phasic reads. Each is downloaded and verified like the bundle (size,
    /// SHA-256, signature and its trusted comment), then its description must name this
    /// version's content hash and the tag, and every file match it. When nothing fits, a note
    /// says why.
    pub(super) async fn obtain_platform(&self, e: &IndexEntry) -> Result<Extras, InstallError> {
        let mut x = Extras::default();
        let (phasic, jax): (Vec<&PlatformArtifact>, Vec<&PlatformArtifact>) = e
            .artifacts
            .iter()
            .partition(|a| crate::phasic::tag_revision(&a.platform).is_some());
        let what = format!("{} {}", e.name, e.version);
        if !jax.is_empty() {
            match self.jax.tag() {
                Err(why) => x.notes.push(format!(
                    "{what} has JAX cache archives, but {why}; installed the symbolic DAG only"
                )),
                Ok(tag) => match jax.iter().find(|a| a.platform == tag) {
                    None => {
                        let have: Vec<&str> = jax.iter().map(|a| a.platform.as_str()).collect();
                        x.notes.push(format!(
                            "{what} has no JAX cache archive for this machine ({tag}; it has {}); installed the symbolic DAG only, and `ptd cache prewarm {}@={}` compiles here",
                            have.join(", "),
                            e.name,
                            e.version
                        ));
                    }
                    Some(a) => {
                        x.jax = self
                            .fetch_artifact(e, a, "JAX cache", |bytes| {
                                let (m, files) = crate::jax::archive::read(bytes, &a.file)
                                    .map_err(|err| err.to_string())?;
                                if m.content_hash != e.content_hash || m.tag != a.platform {
                                    return Err(format!(
                                        "{}: jax.json names content hash {} and tag {}, the index {} and {}",
                                        a.file, m.content_hash, m.tag, e.content_hash, a.platform
                                    ));
                                }
                                Ok(files)
                            })
                            .await?;
                    }
                },
            }
        }
        if !phasic.is_empty() {
            match self.jax.phasic() {
                Err(why) => x.notes.push(format!(
                    "{what} has phasic elimination artifacts, but {why}; installed ptd's symbolic DAG only"
                )),
                Ok(env) => match crate::phasic::choose(
                    phasic.iter().map(|a| a.platform.as_str()),
                    env.max_format_revision,
                ) {
                    None => x.notes.push(format!(
                        "{what} has phasic artifacts only in formats newer than phasic {} reads (revision {}); installed ptd's symbolic DAG only",
                        env.phasic, env.max_format_revision
                    )),
                    Some(tag) => {
                        let a = phasic.iter().find(|a| a.platform == tag).expect("chosen");
                        x.phasic = self
                            .fetch_artifact(e, a, "phasic artifact", |bytes| {
                                let (m, files) = crate::phasic::read(bytes, &a.file)
                                    .map_err(|err| err.to_string())?;
                                if m.content_hash != e.content_hash
                                    || m.tag != a.platform
                                    || m.phasic_hash != e.phasic_hash
                                {
                                    return Err(format!(
                                        "{}: phasic.json names content hash {}, tag {} and phasic hash {}, the index {}, {} and {}",
                                        a.file,
                                        m.content_hash,
                                        m.tag,
                                        m.phasic_hash,
                                        e.content_hash,
                                        a.platform,
                                        e.phasic_hash
                                    ));
                                }
                                Ok(files)
                            })
                            .await?;
                    }
                },
            }
        }
        Ok(x)
    }

    /// A version that is phasic's artifact alone (mirrored from a phasic-traces registry): the
    /// archive is obtained and verified like a bundle (size, SHA-256, signature naming model,
    /// version and content hash), its files must give the content hash, and they are placed
    /// where phasic looks. There is no graph or DAG, so nothing goes to tier 1 and the version
    /// is not recorded for `ptd list`, `gc` or `verify`.
    pub(super) async fn install_phasic_artifact(
        &self,
        e: &IndexEntry,
    ) -> Result<Outcome, InstallError> {
        let (sha, origin) = self.obtain(e).await?;
        let path = self.home.archive_path(&sha);
        let bytes = std::fs::read(&path).map_err(|err| InstallError::io(&path, err))?;
        let checked = crate::phasic::read(&bytes, &e.file)
            .map_err(|err| err.to_string())
            .and_then(|(m, files)| {
                let own = bundle::content_hash(&m.files).unwrap_or_default();
                if m.content_hash != e.content_hash
                    || own != e.content_hash
                    || m.phasic_hash != e.phasic_hash
                    || m.name != e.name
                    || m.version != e.version
                {
                    return Err(format!(
                        "{}: phasic.json describes {} {} (content hash {}, files {}, phasic hash {}), the index {} {} ({}, {})",
                        e.file,
                        m.name,
                        m.version,
                        m.content_hash,
                        own,
                        m.phasic_hash,
                        e.name,
                        e.version,
                        e.content_hash,
                        e.phasic_hash
                    ));
                }
                Ok(files)
            });
        let files = checked.map_err(|message| refuse_stored(&path, e, message))?;
        let phasic_files = place_phasic(self.home, &files)?;
        Ok(Outcome {
            installed: Installed {
                name: e.name.clone(),
                version: e.version.clone(),
                registry: self.label.to_string(),
                archive_sha256: sha,
                content_hash: e.content_hash.clone(),
                phasic_hash: e.phasic_hash.clone(),
                canonical_hash: e.canonical_hash.clone(),
                size: bytes.len() as u64,
                installed_at: now_rfc3339(),
                origin: origin.describe(),
                variants: e.variants.clone(),
                built: false,
            },
            origin,
            already: false,
            jax_files: 0,
            phasic_files,
            jax_note: None,
            tier1_note: None,
        })
    }

    /// Gets a platform archive into the store (verified against the index and its signature,
    /// like the bundle) and reads it with `read`, holding the archive's lock; an archive `read`
    /// refuses is removed from the store.
    async fn fetch_artifact<T>(
        &self,
        e: &IndexEntry,
        a: &PlatformArtifact,
        kind: &str,
        read: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, InstallError> {
        let lock_path = self.home.locks().join(format!("{}.lock", a.sha256));
        let _lock = tokio::task::spawn_blocking(move || lock_file(&lock_path))
            .await
            .expect("lock task")?;
        let wanted = Wanted {
            entry: e,
            file: &a.file,
            sha256: &a.sha256,
            size: a.size,
            trusted_comment: platform_trusted_comment(
                &e.name,
                &e.version,
                &a.platform,
                &e.content_hash,
            ),
        };
        if let Err(tried) = self.obtain_archive(&wanted).await? {
            let version = format!("{} ({kind} for {})", e.version, a.platform);
            return Err(self.unavailable(e, version, tried));
        }
        let dest = self.home.archive_path(&a.sha256);
        let bytes = std::fs::read(&dest).map_err(|err| InstallError::io(&dest, err))?;
        read(&bytes).map_err(|message| refuse_stored(&dest, e, message))
    }
}
