//! A directory (`file://` locations, a shared cache layer on a filesystem, a local index):
//! addresses are paths. Reads are capped like any other; a copy is checked like a download.

use super::{Got, Miss, Since, Transport, Want};
use crate::fetch::{Metadata, MetadataLimits};
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
