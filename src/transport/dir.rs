//! A directory (`file://` locations, a shared cache layer on a filesystem, a local index, a
//! publishing store): addresses are paths. Reads are capped like any other; a copy is checked
//! like a download; a file is written into a temporary file beside it, synced, then renamed
//! into place only if nothing is there.

use super::{Got, Miss, Put, PutError, Same, Since, Transport, Want};
use crate::fetch::{Metadata, MetadataLimits};
use crate::fs::IoError;
use std::path::Path;

/// Files in directories.
#[derive(Clone, Debug)]
pub struct Dir {
    limits: MetadataLimits,
}

impl Dir {
    pub fn new(limits: MetadataLimits) -> Dir {
        Dir { limits }
    }
}

impl Transport for Dir {
    fn url(&self, address: &str) -> String {
        format!("file://{address}")
    }

    /// The path.
    fn describe(&self, address: &str) -> String {
        address.to_string()
    }

    /// Makes the directory if needed; the file appears whole or not at all.
    async fn put_new(&self, address: &str, bytes: &[u8], same: Same<'_>) -> Result<Put, PutError> {
        let p = Path::new(address);
        let d = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(d).map_err(|e| PutError::Io(IoError::new(d, e)))?;
        let io = |e| PutError::Io(IoError::new(address, e));
        let mut tmp = crate::fs::shared_temp_file(d).map_err(io)?;
        std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        match tmp.persist_noclobber(p) {
            Ok(_) => Ok(Put::Created),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                if same(&std::fs::read(p).map_err(io)?) {
                    Ok(Put::Unchanged)
                } else {
                    Err(PutError::Differs(self.describe(address)))
                }
            }
            Err(e) => Err(io(e.error)),
        }
    }

    /// Never conditional: a local file is read whole each time.
    async fn get(&self, address: &str, kind: Metadata, _since: Since<'_>) -> Result<Got, Miss> {
        match self.limits.read_file(kind, Path::new(address)) {
            Ok(Some(bytes)) => Ok(Got::body(bytes)),
            Ok(None) => Err(Miss::NotThere(format!("{address}: not found"))),
            Err(e) => Err(Miss::Bad(e)),
        }
    }

    /// Copies the file (an error names the file it concerns: the source when reading fails,
    /// the partial file when writing does), then checks size and SHA-256.
    async fn download(&self, address: &str, part: &Path, want: Want<'_>) -> Result<(), Miss> {
        let src = Path::new(address);
        match crate::fs::copy_file(src, part) {
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && e.path == src.display().to_string() =>
            {
                return Err(Miss::NotThere(format!("{}: not found", e.path)));
            }
            Err(e) => return Err(Miss::Bad(e.into())),
        }
        crate::fetch::verify_file(part, &self.url(address), want.sha256, want.size)
            .map_err(Miss::Bad)
    }
}
