//! A single-pass reader for the plain layout of a graph file: one JSON object whose arrays of
//! numbers go straight into flat vectors, with no allocation per row (states straight into
//! 32-bit integers). A long array of rows is cut between rows and its parts read at once, one
//! per core.
//!
//! It accepts a subset of what `serde_json` accepts into the same fields and gives the same
//! numbers (every number correctly rounded, as `serde_json` with `float_roundtrip` does). Any
//! input outside that subset — a syntax error, an unknown, missing or repeated key, a value of
//! another type, an escaped string, a number out of range — is left to `serde_json`, whose
//! error names the line and column. So this reader never makes an error of its own.

use super::{Flat, Rows, States};

/// Arrays of rows longer than this many bytes are read in parts, one per core.
const PARALLEL_BYTES: usize = 4 << 20;

/// Reads `text` in the plain layout, or `None` when `serde_json` must read it instead.
pub(super) fn scan(text: &str) -> Option<Flat> {
    let parts = if text.len() > PARALLEL_BYTES {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    scan_in(text, parts, PARALLEL_BYTES)
}

/// [`scan`], reading arrays of rows longer than `min_bytes` in up to `parts` parts at once.
pub(super) fn scan_in(text: &str, parts: usize, min_bytes: usize) -> Option<Flat> {
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
        parts,
        min_bytes,
    };
    let flat = s.object()?;
    s.ws();
    (s.i == s.b.len()).then_some(flat)
}

/// The keys of a graph file, in the order of their bits in the set of keys seen.
const KEYS: [&[u8]; 13] = [
    b"states",
    b"vertex_indices",
    b"edges",
    b"constant_edges",
    b"start_edges",
    b"param_edges",
    b"start_param_edges",
    b"param_length",
    b"state_length",
    b"n_vertices",
    b"weight_mode",
    b"dyn_ordering",
    b"discrete",
];

/// Bits of the keys that must be present (all but constant_edges, weight_mode, dyn_ordering
/// and discrete, which have defaults).
const REQUIRED: u16 = 0b11_1111_0111;

#[derive(Clone, Copy)]
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    /// Parts an array of rows may be read in at once.
    parts: usize,
    /// The shortest array of rows (in bytes) read in parts.
    min_bytes: usize,
}

/// Exact powers of ten, for numbers with at most 22 decimals.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

impl<'a> Scanner<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// The next byte after whitespace, consumed.
    #[inline]
    fn next(&mut self) -> Option<u8> {
        self.ws();
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// Whether the next byte after whitespace is `c`; consumes it if so.
    #[inline]
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A string without escapes or control characters, without its quotes.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        let s = &self.b[start..self.i];
        self.i += 1;
        // Quotes are ASCII, so the slice lies on character boundaries of valid UTF-8.
        std::str::from_utf8(s).ok()
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        self.ws();
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn object(&mut self) -> Option<Flat> {
        let mut f = Flat::default();
        let mut seen: u16 = 0;
        self.expect(b'{')?;
        if !self.eat(b'}') {
            loop {
                let key = self.plain_string()?.as_bytes();
                let k = KEYS.iter().position(|&name| name == key)?;
                if seen & (1 << k) != 0 {
                    return None;
                }
                seen |= 1 << k;
                self.expect(b':')?;
                match k {
                    0 => f.states = States::Ints(self.rows(Self::int32)?),
                    1 => self.numbers(&mut f.vertex_indices, Self::number)?,
                    2 => f.edges = self.rows(Self::number)?,
                    3 => f.constant_edges = self.rows(Self::number)?,
                    4 => f.start_edges = self.rows(Self::number)?,
                    5 => f.param_edges = self.rows(Self::number)?,
                    6 => f.start_param_edges = self.rows(Self::number)?,
                    7 => f.param_length = self.whole()?,
                    8 => f.state_length = self.whole()?,
                    9 => f.n_vertices = self.whole()?,
                    10 => {
                        if !self.literal(b"null") {
                            f.weight_mode = Some(self.plain_string()?.to_string());
                        }
                    }
                    11 => {
                        if !(self.literal(b"null")
                            || self.literal(b"true")
                            || self.literal(b"false"))
                        {
                            return None;
                        }
                    }
                    _ => {
                        f.discrete = if self.literal(b"true") {
                            true
                        } else if self.literal(b"false") {
                            false
                        } else {
                            return None;
                        }
                    }
                }
                match self.next()? {
                    b',' => continue,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        (seen & REQUIRED == REQUIRED).then_some(f)
    }

    /// `[[numbers], ...]`, each number read by `item`. A long array is cut at commas between
    /// rows into parts that are read at once; each part must then be rows separated by commas,
    /// so the parts give exactly the rows of reading the array from end to end.
    fn rows<T, F>(&mut self, item: F) -> Option<Rows<T>>
    where
        T: Copy + Send,
        F: Fn(&mut Self) -> Option<T> + Copy + Send,
    {
        self.expect(b'[')?;
        let mut out = Rows::default();
        if self.eat(b']') {
            return Some(out);
        }
        let cuts = self.cuts();
        if !cuts.is_empty() {
            let whole = *self;
            let mut bounds = vec![self.i];
            bounds.extend(cuts.iter().map(|&c| c + 1));
            let (parts, last) = std::thread::scope(|scope| {
                let parts: Vec<_> = bounds
                    .windows(2)
                    .map(|w| {
                        let part = Scanner {
                            b: &whole.b[..w[1] - 1],
                            i: w[0],
                            ..whole
                        };
                        scope.spawn(move || part.part(item))
                    })
                    .collect();
                let mut last = Scanner {
                    i: *bounds.last().expect("a first bound"),
                    ..whole
                };
                let rows = last.rest(item);
                let parts: Vec<Option<Rows<T>>> = parts
                    .into_iter()
                    .map(|p| p.join().expect("a part of the graph file"))
                    .collect();
                (parts, rows.map(|r| (r, last.i)))
            });
            let (rest, end) = last?;
            for part in parts {
                out.append(part?);
            }
            out.append(rest);
            self.i = end;
            return Some(out);
        }
        self.rest(item)
    }

    /// Rows up to and with the `]` that closes their array.
    fn rest<T: Copy>(&mut self, item: impl Fn(&mut Self) -> Option<T> + Copy) -> Option<Rows<T>> {
        let mut out = Rows::default();
        loop {
            self.row(&mut out, item)?;
            match self.next()? {
                b',' => continue,
                b']' => return Some(out),
                _ => return None,
            }
        }
    }

    /// Rows separated by commas, up to the end of `self.b`.
    fn part<T: Copy>(mut self, item: impl Fn(&mut Self) -> Option<T> + Copy) -> Option<Rows<T>> {
        let mut out = Rows::default();
        loop {
            self.row(&mut out, item)?;
            self.ws();
            if self.i == self.b.len() {
                return Some(out);
            }
            self.expect(b',')?;
        }
    }

    /// Where to cut the array of rows that starts at `self.i` (after its `[`): commas between
    /// rows (`]`, `,`, `[`, with whitespace between), about evenly spaced. The array holds
    /// only numbers, so it ends before the next `"` (the next key). None when the array is short
    /// or reading it in parts is off.
    fn cuts(&self) -> Vec<usize> {
        let mut cuts = Vec::new();
        if self.parts < 2 {
            return cuts;
        }
        let rest = &self.b[self.i..];
        let len = memchr::memchr(b'"', rest).unwrap_or(rest.len());
        if len < self.min_bytes {
            return cuts;
        }
        let mut from = 0;
        for k in 1..self.parts {
            let aim = (len * k / self.parts).max(from);
            let Some(comma) = comma_between_rows(&rest[..len], aim) else {
                break;
            };
            cuts.push(self.i + comma);
            from = comma + 1;
        }
        cuts
    }

    /// One row, `[numbers]`, appended to `out`.
    #[inline]
    fn row<T: Copy>(
        &mut self,
        out: &mut Rows<T>,
        item: impl Fn(&mut Self) -> Option<T>,
    ) -> Option<()> {
        let start = out.vals.len();
        self.numbers(&mut out.vals, item)?;
        out.end_row(start);
        Some(())
    }

    /// `[numbers]`, appended to `out`, each read by `item`.
    #[inline]
    fn numbers<T>(
        &mut self,
        out: &mut Vec<T>,
        item: impl Fn(&mut Self) -> Option<T>,
    ) -> Option<()> {
        self.expect(b'[')?;
        if self.eat(b']') {
            return Some(());
        }
        loop {
            self.ws();
            out.push(item(self)?);
            match self.next()? {
                b',' => continue,
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A whole number that fits an `i32`, written without fraction or exponent (`-0` and
    /// anything else are left to `serde_json`, whose numbers are then checked).
    #[inline]
    fn int32(&mut self) -> Option<i32> {
        let b = self.b;
        let mut i = self.i;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        let start = i;
        let mut x: i64 = 0;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            x = x * 10 + i64::from(c - b'0');
            i += 1;
            if i - start > 10 {
                return None;
            }
        }
        let digits = i - start;
        if digits == 0 || (b[start] == b'0' && (digits > 1 || neg)) {
            return None;
        }
        if matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.i = i;
        i32::try_from(if neg { -x } else { x }).ok()
    }

    /// A whole number >= 0 written without sign, fraction or exponent, as `serde_json` reads
    /// into a `usize`.
    fn whole(&mut self) -> Option<usize> {
        self.ws();
        let start = self.i;
        let mut x: usize = 0;
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            x = x.checked_mul(10)?.checked_add(usize::from(c - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && self.b[start] == b'0') {
            return None;
        }
        // A fraction or exponent makes it a float, which serde_json refuses for a usize.
        if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(x)
    }

    /// A JSON number, correctly rounded to the nearest f64; `None` for anything that is not
    /// JSON number syntax or that does not fit a finite f64.
    #[inline]
    fn number(&mut self) -> Option<f64> {
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        // Significant digits as an integer while they fit; `digits` counts them all.
        let mut m: u64 = 0;
        let mut digits = 0usize;
        match b.get(i) {
            Some(b'0') => {
                i += 1;
                digits = 1;
                if matches!(b.get(i), Some(b'0'..=b'9')) {
                    return None;
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(&c @ b'0'..=b'9') = b.get(i) {
                    m = m.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                    digits += 1;
                    i += 1;
                }
            }
            _ => return None,
        }
        let mut decimals = 0usize;
        if b.get(i) == Some(&b'.') {
            i += 1;
            while let Some(&c @ b'0'..=b'9') = b.get(i) {
                m = m.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                digits += 1;
                decimals += 1;
                i += 1;
            }
            if decimals == 0 {
                return None;
            }
        }
        let mut exponent = false;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let at = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == at {
                return None;
            }
            exponent = true;
        }
        self.i = i;
        // Up to 19 digits fit a u64 exactly; an integer below 2^53 divided by an exact power of
        // ten is then one correctly rounded operation.
        // Below 10^18 the integer also fits an i64, whose conversion is one instruction
        // (the u64 one is several) and rounds the same.
        let whole = if digits <= 18 {
            m as i64 as f64
        } else {
            m as f64
        };
        let x = if !exponent && digits <= 19 && decimals == 0 {
            whole
        } else if !exponent && digits <= 19 && decimals <= 22 && m <= 1 << 53 {
            whole / POW10[decimals]
        } else {
            let text = std::str::from_utf8(&b[start..i]).ok()?;
            let x: f64 = text.parse().ok()?;
            // Out of range, or rounded to zero from a nonzero value: leave it to serde_json.
            if !x.is_finite() || (x == 0.0 && text.bytes().any(|c| matches!(c, b'1'..=b'9'))) {
                return None;
            }
            return Some(x);
        };
        Some(if neg { -x } else { x })
    }
}

/// The first comma at or after `aim` in `text` (an array of rows of numbers) that stands
/// between two rows: after a `]`, before a `[`, with only whitespace between.
fn comma_between_rows(text: &[u8], aim: usize) -> Option<usize> {
    let ws = |c: u8| matches!(c, b' ' | b'\n' | b'\r' | b'\t');
    let mut at = aim;
    loop {
        let close = at + memchr::memchr(b']', text.get(at..)?)?;
        let mut j = close + 1;
        while text.get(j).is_some_and(|&c| ws(c)) {
            j += 1;
        }
        if text.get(j) == Some(&b',') {
            let comma = j;
            j += 1;
            while text.get(j).is_some_and(|&c| ws(c)) {
                j += 1;
            }
            if text.get(j) == Some(&b'[') {
                return Some(comma);
            }
        }
        at = close + 1;
    }
}
