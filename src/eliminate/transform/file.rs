//! The reward transform's file (a derived cache file, `docs/evaluation.md`): the key a
//! transform is stored under, its bytes, and reading them back only intact and for the
//! symbolic form and zero pattern it was built for.

use super::super::Symbolic;
use super::super::dag::{Dag, Id, Node};
use super::Transform;

/// Magic of a transform file (a derived cache file, `docs/evaluation.md`).
const MAGIC: &[u8; 8] = b"PTDXFRM\0";
const VERSION: u32 = 1;

impl Symbolic {
    /// The key of a zero pattern's transform for this symbolic form: SHA-256 of everything the
    /// transform depends on (the edges' endpoints in order, the unknowns, the start's unknowns
    /// and the pattern), so a cached transform is found again only for an identical structure.
    pub fn transform_key(&self, zero: &[bool]) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(MAGIC);
        h.update(VERSION.to_le_bytes());
        h.update((self.n_vertices as u64).to_le_bytes());
        h.update((self.edges.len() as u64).to_le_bytes());
        for &(f, t, _) in &self.edges {
            h.update(f.to_le_bytes());
            h.update(t.to_le_bytes());
        }
        h.update((self.vars.len() as u64).to_le_bytes());
        for &v in &self.vars {
            h.update(v.to_le_bytes());
        }
        h.update((self.start.len() as u64).to_le_bytes());
        for &(i, _) in &self.start {
            h.update(i.to_le_bytes());
        }
        for &z in zero {
            h.update([z as u8]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Transform {
    /// The file's bytes: magic, version, a SHA-256 of the body, then the body of
    /// little-endian `u32` counts and items (`f64` constants as their bits).
    pub fn to_bytes(&self) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        let mut body: Vec<u8> = Vec::new();
        let u = |body: &mut Vec<u8>, x: u32| body.extend_from_slice(&x.to_le_bytes());
        u(&mut body, self.zero.len() as u32);
        body.extend(self.zero.iter().map(|&z| z as u8));
        u(&mut body, self.dag.nodes.len() as u32);
        for node in &self.dag.nodes {
            match *node {
                Node::Const(x) => {
                    body.push(0);
                    body.extend_from_slice(&x.to_bits().to_le_bytes());
                }
                Node::Param(p) => {
                    body.push(1);
                    u(&mut body, p);
                }
                Node::Add(a, b) | Node::Sub(a, b) | Node::Mul(a, b) | Node::Div(a, b) => {
                    body.push(match node {
                        Node::Add(..) => 2,
                        Node::Sub(..) => 3,
                        Node::Mul(..) => 4,
                        _ => 5,
                    });
                    u(&mut body, a);
                    u(&mut body, b);
                }
                Node::Sum { start, len } | Node::Dot { start, len } => {
                    body.push(if matches!(node, Node::Sum { .. }) {
                        6
                    } else {
                        7
                    });
                    u(&mut body, start);
                    u(&mut body, len);
                }
            }
        }
        let lists: [&[u32]; 4] = [&self.dag.args, &self.kept, &self.targets, &self.nodes];
        for l in lists {
            u(&mut body, l.len() as u32);
            for &x in l {
                u(&mut body, x);
            }
        }
        u(&mut body, self.offsets.len() as u32);
        for &x in &self.offsets {
            u(&mut body, x as u32);
        }
        u(&mut body, self.start.len() as u32);
        for &(w, x) in &self.start {
            u(&mut body, w);
            u(&mut body, x);
        }
        let mut out = Vec::with_capacity(body.len() + 44);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&body));
        out.extend_from_slice(&body);
        out
    }

    /// Reads a transform file back for `s` and the zero pattern `zero`: `None` unless it is
    /// intact (magic, version, checksum) and fits them, so a damaged file is rebuilt, never
    /// used.
    pub fn from_bytes(bytes: &[u8], s: &Symbolic, zero: &[bool]) -> Option<Transform> {
        use sha2::{Digest, Sha256};
        if bytes.len() < 44 || &bytes[..8] != MAGIC || bytes[8..12] != VERSION.to_le_bytes() {
            return None;
        }
        let body = &bytes[44..];
        if Sha256::digest(body)[..] != bytes[12..44] {
            return None;
        }
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = body.get(at..at.checked_add(n)?)?;
            at += n;
            Some(s)
        };
        fn word(b: &[u8]) -> u32 {
            u32::from_le_bytes(b.try_into().expect("4 bytes"))
        }
        let nz = word(take(4)?) as usize;
        let zero_read: Vec<bool> = take(nz)?.iter().map(|&b| b != 0).collect();
        let nn = word(take(4)?) as usize;
        let mut dag = Dag::default();
        for _ in 0..nn.min(body.len()) {
            let code = take(1)?[0];
            let node = match code {
                0 => Node::Const(f64::from_bits(u64::from_le_bytes(
                    take(8)?.try_into().ok()?,
                ))),
                1 => Node::Param(word(take(4)?)),
                2..=5 => {
                    let (a, b) = (word(take(4)?), word(take(4)?));
                    match code {
                        2 => Node::Add(a, b),
                        3 => Node::Sub(a, b),
                        4 => Node::Mul(a, b),
                        _ => Node::Div(a, b),
                    }
                }
                6 | 7 => {
                    let (start, len) = (word(take(4)?), word(take(4)?));
                    if code == 6 {
                        Node::Sum { start, len }
                    } else {
                        Node::Dot { start, len }
                    }
                }
                _ => return None,
            };
            dag.nodes.push(node);
        }
        if dag.nodes.len() != nn {
            return None;
        }
        let mut list = || -> Option<Vec<u32>> {
            let n = word(take(4)?) as usize;
            let b = take(n.checked_mul(4)?)?;
            Some(b.chunks_exact(4).map(word).collect())
        };
        dag.args = list()?;
        let kept = list()?;
        let targets = list()?;
        let nodes = list()?;
        let offsets: Vec<usize> = list()?.into_iter().map(|x| x as usize).collect();
        let start: Vec<(u32, Id)> = list_pairs(&mut take)?;
        if at != body.len() || zero_read != zero {
            return None;
        }
        let t = Transform {
            zero: zero_read,
            dag,
            kept,
            offsets,
            targets,
            nodes,
            start,
        };
        t.fits(s).then_some(t)
    }
}

fn list_pairs<'a>(take: &mut impl FnMut(usize) -> Option<&'a [u8]>) -> Option<Vec<(u32, u32)>> {
    let word = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    let n = word(take(4)?) as usize;
    let b = take(n.checked_mul(8)?)?;
    Some(
        b.chunks_exact(8)
            .map(|c| (word(&c[..4]), word(&c[4..])))
            .collect(),
    )
}
