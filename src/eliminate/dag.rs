//! Expression DAG over theta with hash-consing and constant folding.
//!
//! Nodes are numbered in creation order and every operand has a smaller number than the node
//! that uses it, so one forward pass evaluates the whole DAG. Identical subexpressions are stored
//! once: a node is looked up by its operator and operands before it is created.

use rustc_hash::FxHashMap;

/// Node index.
pub type Id = u32;

/// One operation. N-ary operands live in [`Dag::args`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Node {
    Const(f64),
    Param(u32),
    Add(Id, Id),
    Sub(Id, Id),
    Mul(Id, Id),
    /// Division; a zero denominator gives 0 and is reported by evaluation.
    Div(Id, Id),
    /// Sum of `args[start..start + len]`.
    Sum {
        start: u32,
        len: u32,
    },
    /// Sum of products of the pairs `args[start + 2i] * args[start + 2i + 1]`, `len` pairs.
    Dot {
        start: u32,
        len: u32,
    },
}

/// Operator codes used in the file format (see `docs/bundle-format.md`).
pub mod op {
    pub const CONST: u8 = 0;
    pub const PARAM: u8 = 1;
    pub const ADD: u8 = 2;
    pub const SUB: u8 = 3;
    pub const MUL: u8 = 4;
    pub const DIV: u8 = 5;
    pub const SUM: u8 = 6;
    pub const DOT: u8 = 7;
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Const(u64),
    Param(u32),
    Bin(u8, Id, Id),
    Nary(u8, Box<[Id]>),
}

/// A DAG of expressions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dag {
    pub(crate) nodes: Vec<Node>,
    pub(crate) args: Vec<Id>,
}

/// Builds a [`Dag`], sharing identical nodes and folding constants.
#[derive(Default)]
pub struct DagBuilder {
    dag: Dag,
    seen: FxHashMap<Key, Id>,
}

impl DagBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.dag.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dag.nodes.is_empty()
    }

    pub fn finish(self) -> Dag {
        self.dag
    }

    fn intern(&mut self, key: Key, node: impl FnOnce(&mut Dag) -> Node) -> Id {
        if let Some(&id) = self.seen.get(&key) {
            return id;
        }
        let id = self.dag.nodes.len() as Id;
        let n = node(&mut self.dag);
        self.dag.nodes.push(n);
        self.seen.insert(key, id);
        id
    }

    pub fn node(&self, id: Id) -> Node {
        self.dag.nodes[id as usize]
    }

    fn value(&self, id: Id) -> Option<f64> {
        match self.dag.nodes[id as usize] {
            Node::Const(x) => Some(x),
            _ => None,
        }
    }

    pub fn constant(&mut self, x: f64) -> Id {
        let x = if x == 0.0 { 0.0 } else { x };
        self.intern(Key::Const(x.to_bits()), |_| Node::Const(x))
    }

    pub fn param(&mut self, i: u32) -> Id {
        self.intern(Key::Param(i), |_| Node::Param(i))
    }

    pub fn add(&mut self, a: Id, b: Id) -> Id {
        match (self.value(a), self.value(b)) {
            (Some(x), Some(y)) => self.constant(x + y),
            (Some(0.0), _) => b,
            (_, Some(0.0)) => a,
            _ => {
                let (a, b) = (a.min(b), a.max(b));
                self.intern(Key::Bin(op::ADD, a, b), |_| Node::Add(a, b))
            }
        }
    }

    pub fn sub(&mut self, a: Id, b: Id) -> Id {
        match (self.value(a), self.value(b)) {
            (Some(x), Some(y)) => self.constant(x - y),
            (_, Some(0.0)) => a,
            _ => self.intern(Key::Bin(op::SUB, a, b), |_| Node::Sub(a, b)),
        }
    }

    pub fn mul(&mut self, a: Id, b: Id) -> Id {
        match (self.value(a), self.value(b)) {
            (Some(x), Some(y)) => self.constant(x * y),
            (Some(x), _) | (_, Some(x)) if x == 0.0 => self.constant(0.0),
            (Some(1.0), _) => b,
            (_, Some(1.0)) => a,
            _ => {
                let (a, b) = (a.min(b), a.max(b));
                self.intern(Key::Bin(op::MUL, a, b), |_| Node::Mul(a, b))
            }
        }
    }

    pub fn div(&mut self, a: Id, b: Id) -> Id {
        match (self.value(a), self.value(b)) {
            (Some(x), Some(y)) if y != 0.0 => self.constant(x / y),
            (Some(0.0), _) => a,
            (_, Some(1.0)) => a,
            _ => self.intern(Key::Bin(op::DIV, a, b), |_| Node::Div(a, b)),
        }
    }

    /// Sum of terms; constants are folded into one term and operands are put in a canonical
    /// order, so equal sums share one node.
    pub fn sum(&mut self, terms: &[Id]) -> Id {
        let mut c = 0.0;
        let mut rest: Vec<Id> = Vec::with_capacity(terms.len());
        for &t in terms {
            match self.value(t) {
                Some(x) => c += x,
                None => rest.push(t),
            }
        }
        rest.sort_unstable();
        if c != 0.0 {
            let k = self.constant(c);
            rest.push(k);
        }
        match rest.len() {
            0 => self.constant(0.0),
            1 => rest[0],
            2 => self.add(rest[0], rest[1]),
            _ => self.nary(op::SUM, rest),
        }
    }

    /// Sum of products `a_i * b_i`, folded and canonicalised like [`Self::sum`].
    pub fn dot(&mut self, pairs: &[(Id, Id)]) -> Id {
        let mut c = 0.0;
        let mut rest: Vec<(Id, Id)> = Vec::with_capacity(pairs.len());
        for &(a, b) in pairs {
            match (self.value(a), self.value(b)) {
                (Some(x), Some(y)) => c += x * y,
                (Some(x), _) | (_, Some(x)) if x == 0.0 => {}
                _ => rest.push((a.min(b), a.max(b))),
            }
        }
        rest.sort_unstable();
        let lin = match rest.len() {
            0 => return self.constant(c),
            1 => self.mul(rest[0].0, rest[0].1),
            _ => {
                let flat: Vec<Id> = rest.iter().flat_map(|&(a, b)| [a, b]).collect();
                self.nary(op::DOT, flat)
            }
        };
        if c == 0.0 {
            lin
        } else {
            let k = self.constant(c);
            self.add(lin, k)
        }
    }

    /// `dot(coeffs, theta)`.
    pub fn linear(&mut self, coeffs: &[f64]) -> Id {
        let pairs: Vec<(Id, Id)> = coeffs
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0.0)
            .map(|(i, &c)| (self.constant(c), self.param(i as u32)))
            .collect();
        self.dot(&pairs)
    }

    fn nary(&mut self, code: u8, operands: Vec<Id>) -> Id {
        let key = Key::Nary(code, operands.into_boxed_slice());
        if let Some(&id) = self.seen.get(&key) {
            return id;
        }
        let Key::Nary(_, ops) = &key else {
            unreachable!()
        };
        let start = self.dag.args.len() as u32;
        self.dag.args.extend_from_slice(ops);
        let len = ops.len() as u32;
        let node = if code == op::SUM {
            Node::Sum { start, len }
        } else {
            Node::Dot {
                start,
                len: len / 2,
            }
        };
        let id = self.dag.nodes.len() as Id;
        self.dag.nodes.push(node);
        self.seen.insert(key, id);
        id
    }
}

/// Result of evaluating a DAG: node values and whether a zero denominator was met.
pub struct Values {
    pub values: Vec<f64>,
    pub zero_division: bool,
}

impl Dag {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn args(&self) -> &[Id] {
        &self.args
    }

    /// Evaluates every node for `theta` (whose length the caller has checked).
    pub fn evaluate(&self, theta: &[f64]) -> Values {
        let [values] = self.evaluate_each([theta]);
        values
    }

    /// Evaluates every node for each of `N` thetas in one pass over the nodes (each value the
    /// same as [`Dag::evaluate`]'s).
    pub fn evaluate_each<const N: usize>(&self, thetas: [&[f64]; N]) -> [Values; N] {
        let mut v: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(self.nodes.len()));
        let mut zero_division = [false; N];
        let args = &self.args;
        for node in &self.nodes {
            for k in 0..N {
                let v = &mut v[k];
                let x = match *node {
                    Node::Const(x) => x,
                    Node::Param(i) => thetas[k][i as usize],
                    Node::Add(a, b) => v[a as usize] + v[b as usize],
                    Node::Sub(a, b) => v[a as usize] - v[b as usize],
                    Node::Mul(a, b) => v[a as usize] * v[b as usize],
                    Node::Div(a, b) => {
                        let d = v[b as usize];
                        if d == 0.0 {
                            zero_division[k] = true;
                            0.0
                        } else {
                            v[a as usize] / d
                        }
                    }
                    Node::Sum { start, len } => {
                        let s = start as usize;
                        args[s..s + len as usize]
                            .iter()
                            .map(|&i| v[i as usize])
                            .sum()
                    }
                    Node::Dot { start, len } => {
                        let s = start as usize;
                        args[s..s + 2 * len as usize]
                            .chunks_exact(2)
                            .map(|p| v[p[0] as usize] * v[p[1] as usize])
                            .sum()
                    }
                };
                v.push(x);
            }
        }
        let mut v = v.into_iter();
        std::array::from_fn(|k| Values {
            values: v.next().expect("N vectors"),
            zero_division: zero_division[k],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_folds() {
        let mut b = DagBuilder::new();
        let t = b.param(0);
        let three = b.constant(3.0);
        let r1 = b.mul(three, t);
        let r2 = b.mul(t, three);
        assert_eq!(r1, r2, "commutative operands share one node");
        let two = b.constant(2.0);
        let five = b.add(two, three);
        assert_eq!(b.finish().nodes[five as usize], Node::Const(5.0));
    }

    #[test]
    fn sums_and_dots_fold_constants() {
        let mut b = DagBuilder::new();
        let t0 = b.param(0);
        let t1 = b.param(1);
        let one = b.constant(1.0);
        let two = b.constant(2.0);
        let s = b.sum(&[t0, one, t1, one]);
        let s2 = b.sum(&[t1, two, t0]);
        assert_eq!(s, s2);
        let lin = b.linear(&[0.0, 4.0]);
        let lin2 = b.linear(&[0.0, 4.0]);
        assert_eq!(lin, lin2);
        let d = b.dot(&[(t0, t1), (two, two), (t1, one)]);
        let q = b.div(d, s);
        let dag = b.finish();
        let v = dag.evaluate(&[0.5, 3.0]);
        let expect = (0.5 * 3.0 + 4.0 + 3.0) / (0.5 + 3.0 + 2.0);
        assert_eq!(v.values[q as usize], expect);
        assert_eq!(v.values[lin as usize], 12.0);
        assert!(!v.zero_division);
    }

    #[test]
    fn zero_division_is_reported() {
        let mut b = DagBuilder::new();
        let t = b.param(0);
        let one = b.constant(1.0);
        let q = b.div(one, t);
        let dag = b.finish();
        let v = dag.evaluate(&[0.0]);
        assert!(v.zero_division);
        assert_eq!(v.values[q as usize], 0.0);
    }
}
