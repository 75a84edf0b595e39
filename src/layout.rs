//! Little-endian binary layouts: an 8-byte magic, a `u32` layout version and a `u32` of flags,
//! then fields in a fixed order. A field is a `u64`, or an array: its element count as a `u64`,
//! for an integer array then its element width in bytes as a `u64` (1, 2 or 4: the narrowest
//! that holds every element, so the same values always give the same bytes), then the elements,
//! then zero bytes up to a multiple of 8 (so every array starts 8-aligned).
//! `docs/bundle-format.md` lists the fields of each file (`graph.bin`, `dag.bin`).
//!
//! Reading checks each count against the bytes left before anything is allocated, so a damaged
//! or hostile file cannot make a reader allocate more than the file's own size, and names the
//! field that is wrong. Arrays are decoded straight into vectors (one pass, no parse step).

/// An error in a binary layout, naming the file and the field.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {place}: {message}")]
pub struct LayoutError {
    pub file: String,
    /// The field (`targets`, `targets[12]`, `header`, ...).
    pub place: String,
    pub message: String,
}

/// Writes a layout.
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// Starts a layout with its magic, version and flags.
    pub fn new(magic: &[u8; 8], version: u32, flags: u32, capacity: usize) -> Writer {
        let mut out = Vec::with_capacity(16 + capacity);
        out.extend_from_slice(magic);
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        Writer { out }
    }

    pub fn u64(&mut self, x: u64) {
        self.out.extend_from_slice(&x.to_le_bytes());
    }

    fn count(&mut self, n: usize) {
        self.u64(n as u64);
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(8) {
            self.out.push(0);
        }
    }

    pub fn u8s(&mut self, xs: &[u8]) {
        self.count(xs.len());
        self.out.extend_from_slice(xs);
        self.pad();
    }

    /// Unsigned integers, each in the narrowest width (1, 2 or 4 bytes) that holds the largest.
    pub fn uints(&mut self, xs: &[u32]) {
        let max = xs.iter().copied().max().unwrap_or(0);
        let width = if max <= u8::MAX as u32 {
            1
        } else if max <= u16::MAX as u32 {
            2
        } else {
            4
        };
        self.count(xs.len());
        self.count(width);
        self.out.reserve(xs.len() * width);
        match width {
            1 => self.out.extend(xs.iter().map(|&x| x as u8)),
            2 => xs
                .iter()
                .for_each(|&x| self.out.extend_from_slice(&(x as u16).to_le_bytes())),
            _ => xs
                .iter()
                .for_each(|&x| self.out.extend_from_slice(&x.to_le_bytes())),
        }
        self.pad();
    }

    /// Signed integers, each in the narrowest width (1, 2 or 4 bytes) that holds them all.
    pub fn ints(&mut self, xs: &[i32]) {
        let fits = |lo: i32, hi: i32| xs.iter().all(|&x| (lo..=hi).contains(&x));
        let width = if fits(i8::MIN.into(), i8::MAX.into()) {
            1
        } else if fits(i16::MIN.into(), i16::MAX.into()) {
            2
        } else {
            4
        };
        self.count(xs.len());
        self.count(width);
        self.out.reserve(xs.len() * width);
        match width {
            1 => self.out.extend(xs.iter().map(|&x| x as i8 as u8)),
            2 => xs
                .iter()
                .for_each(|&x| self.out.extend_from_slice(&(x as i16).to_le_bytes())),
            _ => xs
                .iter()
                .for_each(|&x| self.out.extend_from_slice(&x.to_le_bytes())),
        }
        self.pad();
    }

    pub fn u64s(&mut self, xs: impl ExactSizeIterator<Item = u64>) {
        self.count(xs.len());
        self.out.reserve(xs.len() * 8);
        for x in xs {
            self.out.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// Floats by their IEEE-754 bits (so -0.0 stays -0.0: a graph's phasic hash sees the bits).
    pub fn f64s(&mut self, xs: impl ExactSizeIterator<Item = f64>) {
        self.count(xs.len());
        self.out.reserve(xs.len() * 8);
        for x in xs {
            self.out.extend_from_slice(&x.to_le_bytes());
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// An unsigned integer array still in the file's bytes: read element by element, without
/// a copy.
#[derive(Clone, Copy, Debug)]
pub struct Ints<'a> {
    width: usize,
    data: &'a [u8],
}

impl Ints<'_> {
    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Element `i` (which must be below [`Self::len`]).
    pub fn get(&self, i: usize) -> u32 {
        let at = i * self.width;
        match self.width {
            1 => self.data[at].into(),
            2 => u16::from_le_bytes([self.data[at], self.data[at + 1]]).into(),
            _ => u32::from_le_bytes(self.data[at..at + 4].try_into().expect("4 bytes")),
        }
    }

    /// The largest element.
    pub fn max(&self) -> Option<u32> {
        match self.width {
            1 => self.data.iter().max().map(|&b| b.into()),
            2 => self
                .data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .max()
                .map(Into::into),
            _ => self
                .data
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .max(),
        }
    }
}

/// Reads a layout written by [`Writer`], field by field in the same order.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    file: &'a str,
    /// The layout version and flags from the header.
    pub version: u32,
    pub flags: u32,
}

impl<'a> Reader<'a> {
    /// Checks the magic, the layout version (`version`, the one this ptd reads) and that no
    /// flag outside `known_flags` is set; `what` names the layout in errors (`a binary graph`).
    pub fn open(
        bytes: &'a [u8],
        magic: &[u8; 8],
        (version, known_flags): (u32, u32),
        file: &'a str,
        what: &str,
    ) -> Result<Reader<'a>, LayoutError> {
        if bytes.len() < 16 || &bytes[..8] != magic {
            return Err(LayoutError {
                file: file.into(),
                place: "header".into(),
                message: format!(
                    "not {what}: it does not start with {:?}",
                    String::from_utf8_lossy(magic).trim_end_matches('\0')
                ),
            });
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let r = Reader {
            bytes,
            pos: 16,
            file,
            version: word(8),
            flags: word(12),
        };
        if r.version != version {
            return Err(r.err(
                "header",
                format!(
                    "layout version {} is not {version}, the one this ptd reads (upgrade ptd, or rebuild the bundle)",
                    r.version
                ),
            ));
        }
        if r.flags & !known_flags != 0 {
            return Err(r.err("header", format!("unknown flags {:#x}", r.flags)));
        }
        Ok(r)
    }

    /// An error at `place`.
    pub fn err(&self, place: impl Into<String>, message: impl Into<String>) -> LayoutError {
        LayoutError {
            file: self.file.into(),
            place: place.into(),
            message: message.into(),
        }
    }

    fn take(&mut self, field: &str, n: usize) -> Result<&'a [u8], LayoutError> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err(self.err(
                field,
                format!(
                    "needs {n} bytes but only {left} are left: the file is truncated or damaged"
                ),
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u64(&mut self, field: &str) -> Result<u64, LayoutError> {
        let b = self.take(field, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// A `u64` that must fit a `usize` and be at most `max`.
    pub fn size(&mut self, field: &str, max: u64) -> Result<usize, LayoutError> {
        let x = self.u64(field)?;
        if x > max {
            return Err(self.err(field, format!("{x} is more than the {max} allowed")));
        }
        usize::try_from(x).map_err(|_| self.err(field, format!("{x} is too large")))
    }

    /// An array's elements as raw bytes: its count, checked against what is left, then the data
    /// and its padding.
    fn array(&mut self, field: &str, width: usize) -> Result<&'a [u8], LayoutError> {
        let n = self.u64(field)?;
        self.elements(field, n, width)
    }

    /// `n` elements of `width` bytes and the padding after them.
    fn elements(&mut self, field: &str, n: u64, width: usize) -> Result<&'a [u8], LayoutError> {
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left / width as u64 {
            return Err(self.err(
                field,
                format!(
                    "claims {n} elements of {width} bytes but only {left} bytes are left: the file is truncated or damaged"
                ),
            ));
        }
        let data = self.take(field, n as usize * width)?;
        let pad = (8 - self.pos % 8) % 8;
        let padding = self.take(field, pad)?;
        if padding.iter().any(|&b| b != 0) {
            return Err(self.err(field, "padding after the array is not zero"));
        }
        Ok(data)
    }

    pub fn u8s(&mut self, field: &str) -> Result<&'a [u8], LayoutError> {
        self.array(field, 1)
    }

    /// An integer array's width and elements.
    fn int_array(&mut self, field: &str) -> Result<(usize, &'a [u8]), LayoutError> {
        let n = self.u64(field)?;
        let width = self.u64(field)?;
        if !matches!(width, 1 | 2 | 4) {
            return Err(self.err(field, format!("element width {width} is not 1, 2 or 4")));
        }
        let data = self.elements(field, n, width as usize)?;
        Ok((width as usize, data))
    }

    /// An unsigned integer array, left in the file's bytes ([`Ints`]).
    pub fn uint_column(&mut self, field: &str) -> Result<Ints<'a>, LayoutError> {
        let (width, data) = self.int_array(field)?;
        Ok(Ints { width, data })
    }

    /// An unsigned integer array.
    pub fn uints(&mut self, field: &str) -> Result<Vec<u32>, LayoutError> {
        let (width, data) = self.int_array(field)?;
        Ok(match width {
            1 => data.iter().map(|&b| b.into()).collect(),
            2 => data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]).into())
                .collect(),
            _ => data
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect(),
        })
    }

    /// A signed integer array.
    pub fn ints(&mut self, field: &str) -> Result<Vec<i32>, LayoutError> {
        let (width, data) = self.int_array(field)?;
        Ok(match width {
            1 => data.iter().map(|&b| (b as i8).into()).collect(),
            2 => data
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]).into())
                .collect(),
            _ => data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect(),
        })
    }

    pub fn u64s(&mut self, field: &str) -> Result<Vec<u64>, LayoutError> {
        Ok(self
            .array(field, 8)?
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    pub fn f64s(&mut self, field: &str) -> Result<Vec<f64>, LayoutError> {
        Ok(self
            .array(field, 8)?
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    /// The end: nothing may follow the last field.
    pub fn finish(self) -> Result<(), LayoutError> {
        let left = self.bytes.len() - self.pos;
        if left != 0 {
            return Err(self.err(
                "end",
                format!(
                    "{left} bytes follow the last field; the file is damaged or of another layout"
                ),
            ));
        }
        Ok(())
    }
}

/// Where each field of a layout starts and how wide its elements are, walking the counts: for
/// the fields `kinds` (one letter each: `u` a `u64`, `b` a byte array, `i` an integer array, `f`
/// an array of 8-byte elements), the offset of each field's first element (a `u64`'s own offset)
/// and the element width. None when the bytes end first. For inspecting files and for crafting
/// damaged ones in tests.
pub fn field_offsets(bytes: &[u8], kinds: &str) -> Option<Vec<(usize, usize)>> {
    let word = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at + 8)?;
        usize::try_from(u64::from_le_bytes(b.try_into().ok()?)).ok()
    };
    let mut at = 16;
    let mut out = Vec::new();
    for k in kinds.chars() {
        let (start, width, n) = match k {
            'u' => (at, 8, 0),
            'b' => (at + 8, 1, word(at)?),
            'f' => (at + 8, 8, word(at)?),
            _ => (at + 16, word(at + 8)?, word(at)?),
        };
        out.push((start, width));
        at = if k == 'u' {
            at + 8
        } else {
            start + (n.checked_mul(width)?).div_ceil(8) * 8
        };
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_damage_is_named() {
        let mut w = Writer::new(b"PTDTEST\0", 3, 1, 0);
        w.u64(7);
        w.u8s(&[1, 2, 3]);
        w.uints(&[5, 6]);
        w.ints(&[-1]);
        w.f64s([1.5, -0.0].into_iter());
        w.u64s([9u64].into_iter());
        let bytes = w.finish();
        assert_eq!(bytes.len() % 8, 0);
        let mut r = Reader::open(&bytes, b"PTDTEST\0", (3, 1), "t.bin", "a test").unwrap();
        assert_eq!((r.version, r.flags), (3, 1));
        assert_eq!(r.u64("a").unwrap(), 7);
        assert_eq!(r.u8s("b").unwrap(), &[1, 2, 3]);
        assert_eq!(r.uints("c").unwrap(), vec![5, 6]);
        assert_eq!(r.ints("d").unwrap(), vec![-1]);
        let f = r.f64s("e").unwrap();
        assert_eq!(f, vec![1.5, 0.0]);
        assert!(f[1].is_sign_negative());
        assert_eq!(r.u64s("f").unwrap(), vec![9]);
        r.finish().unwrap();

        let e = Reader::open(&bytes, b"PTDOTHR\0", (3, 1), "t.bin", "a test")
            .err()
            .unwrap();
        assert!(e.to_string().contains("not a test"), "{e}");
        // A count larger than the file is refused before anything is allocated.
        let mut huge = bytes[..16].to_vec();
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        huge.extend_from_slice(&4u64.to_le_bytes());
        let mut r = Reader::open(&huge, b"PTDTEST\0", (3, 1), "t.bin", "a test").unwrap();
        let e = r.uints("targets").unwrap_err();
        assert!(e.to_string().contains("t.bin: targets: claims"), "{e}");
        // Truncation names the field.
        let mut r = Reader::open(&bytes[..30], b"PTDTEST\0", (3, 1), "t.bin", "a test").unwrap();
        r.u64("a").unwrap();
        assert!(r.u8s("b").unwrap_err().to_string().contains("b: "));
        // Trailing bytes are refused.
        let mut long = bytes.clone();
        long.extend_from_slice(&[0; 8]);
        let mut r = Reader::open(&long, b"PTDTEST\0", (3, 1), "t.bin", "a test").unwrap();
        r.u64("a").unwrap();
        r.u8s("b").unwrap();
        r.uints("c").unwrap();
        r.ints("d").unwrap();
        r.f64s("e").unwrap();
        r.u64s("f").unwrap();
        assert!(
            r.finish()
                .unwrap_err()
                .to_string()
                .contains("8 bytes follow")
        );
    }

    #[test]
    fn integers_take_the_narrowest_width() {
        for (xs, width) in [
            (vec![0u32, 255], 1),
            (vec![256, 3], 2),
            (vec![65_535], 2),
            (vec![65_536], 4),
            (vec![u32::MAX], 4),
            (vec![], 1),
        ] {
            let mut w = Writer::new(b"PTDTEST\0", 3, 0, 0);
            w.uints(&xs);
            let bytes = w.finish();
            assert_eq!(bytes[24], width, "{xs:?}");
            let mut r = Reader::open(&bytes, b"PTDTEST\0", (3, 1), "t.bin", "a test").unwrap();
            assert_eq!(r.uints("x").unwrap(), xs);
            r.finish().unwrap();
        }
        for (xs, width) in [
            (vec![-128i32, 127], 1),
            (vec![-129], 2),
            (vec![128], 2),
            (vec![i16::MIN as i32, i16::MAX as i32], 2),
            (vec![40_000], 4),
            (vec![i32::MIN, i32::MAX], 4),
        ] {
            let mut w = Writer::new(b"PTDTEST\0", 3, 0, 0);
            w.ints(&xs);
            let bytes = w.finish();
            assert_eq!(bytes[24], width, "{xs:?}");
            let mut r = Reader::open(&bytes, b"PTDTEST\0", (3, 1), "t.bin", "a test").unwrap();
            assert_eq!(r.ints("x").unwrap(), xs);
            r.finish().unwrap();
        }
        // A width that is not 1, 2 or 4 is refused.
        let mut w = Writer::new(b"PTDTEST\0", 3, 0, 0);
        w.uints(&[1]);
        let mut bytes = w.finish();
        bytes[24] = 3;
        let mut r = Reader::open(&bytes, b"PTDTEST\0", (3, 1), "t.bin", "a test").unwrap();
        let e = r.uints("x").unwrap_err().to_string();
        assert!(
            e.contains("t.bin: x: element width 3 is not 1, 2 or 4"),
            "{e}"
        );
    }
}
