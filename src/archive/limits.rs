//! What reading an archive may cost: caps on one file, on the total and on the expansion ratio.

/// Largest file an archive may hold, and largest total, when reading (uncompressed).
pub const MAX_FILE_BYTES: u64 = 4 << 30;
/// Largest expansion of an archive over its compressed size, above [`RATIO_FLOOR`] bytes.
pub const MAX_RATIO: u64 = 1000;
/// Below this many uncompressed bytes the expansion ratio is not checked.
pub const RATIO_FLOOR: u64 = 64 << 20;

/// What reading an archive may cost: the caps on one file, on the total, and on the expansion
/// ratio (so a small archive cannot unpack into gigabytes). `PTD_ARCHIVE_MAX_FILE_BYTES`,
/// `PTD_ARCHIVE_MAX_TOTAL_BYTES` and `PTD_ARCHIVE_MAX_RATIO` can only lower the defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub file_bytes: u64,
    pub total_bytes: u64,
    pub ratio: u64,
}

impl Limits {
    pub fn from_env() -> Limits {
        let get = |var: &str, default: u64| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(default, |v| v.min(default))
        };
        Limits {
            file_bytes: get("PTD_ARCHIVE_MAX_FILE_BYTES", MAX_FILE_BYTES),
            total_bytes: get("PTD_ARCHIVE_MAX_TOTAL_BYTES", MAX_FILE_BYTES),
            ratio: get("PTD_ARCHIVE_MAX_RATIO", MAX_RATIO),
        }
    }

    /// The most bytes an archive of `compressed` bytes may expand to.
    pub(super) fn expansion(&self, compressed: u64) -> u64 {
        self.total_bytes
            .min(RATIO_FLOOR.max(compressed.saturating_mul(self.ratio)))
    }
}
