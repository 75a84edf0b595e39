//! The graph file: JSON with exactly the keys of phasic's `Graph.serialize()`, arrays as lists.
//!
//! Reading validates everything phasic's `Graph.from_serialized` would trip over, and more, and
//! names the key and row of each problem. Writing is deterministic and produces a file that
//! `phasic.Graph.from_serialized(json.load(f))` rebuilds into the same graph.
//!
//! Files in the plain layout (what [`GraphFile::to_bytes`] and phasic write) are read in one
//! pass into flat vectors (`scan`, long arrays in parts at once); anything else, including
//! every syntax error, is read by `serde_json`, whose errors give the line and column. Both
//! feed the same validation.

mod scan;

use super::{Graph, GraphError};
use serde::Deserialize;
use std::io::Write;
use std::path::Path;

/// An error in a graph file, with the place it was found.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {place}: {message}")]
pub struct GraphFileError {
    pub file: String,
    /// `param_edges[12]`, `line 3 column 7`, ...
    pub place: String,
    pub message: String,
}

/// Reading and writing graph files.
pub struct GraphFile;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    states: Vec<Vec<f64>>,
    vertex_indices: Vec<f64>,
    edges: Vec<Vec<f64>>,
    #[serde(default)]
    constant_edges: Vec<Vec<f64>>,
    start_edges: Vec<Vec<f64>>,
    param_edges: Vec<Vec<f64>>,
    start_param_edges: Vec<Vec<f64>>,
    param_length: usize,
    state_length: usize,
    n_vertices: usize,
    #[serde(default)]
    weight_mode: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    dyn_ordering: Option<bool>,
    /// ptd's addition: a discrete phase-type graph (phasic's `was_dph`, which its
    /// `serialize()` does not write).
    #[serde(default)]
    discrete: bool,
}

/// Rows of values kept in one flat vector.
#[derive(Debug, PartialEq)]
struct Rows<T = f64> {
    vals: Vec<T>,
    count: usize,
    /// The length of every row, while all rows so far have the same length.
    width: usize,
    /// Where each row ends in `vals`, kept only once rows differ in length.
    ends: Option<Vec<usize>>,
}

impl<T> Default for Rows<T> {
    fn default() -> Self {
        Rows {
            vals: Vec::new(),
            count: 0,
            width: 0,
            ends: None,
        }
    }
}

impl<T: Copy> Rows<T> {
    /// Closes the row that started at `start` in `vals`.
    fn end_row(&mut self, start: usize) {
        let end = self.vals.len();
        if self.ends.is_some() || (self.count > 0 && end - start != self.width) {
            self.ends_mut().push(end);
        } else if self.count == 0 {
            self.width = end - start;
        }
        self.count += 1;
    }

    /// Where each row ends, kept from now on (made from the common width the first time).
    fn ends_mut(&mut self) -> &mut Vec<usize> {
        let (count, width) = (self.count, self.width);
        self.ends
            .get_or_insert_with(|| (1..=count).map(|k| k * width).collect())
    }

    /// Appends the rows of `other`, as if they had been read after these.
    fn append(&mut self, other: Rows<T>) {
        if self.count == 0 {
            *self = other;
            return;
        }
        if self.ends.is_none() && other.ends.is_none() && other.width == self.width {
            self.vals.extend_from_slice(&other.vals);
            self.count += other.count;
            return;
        }
        let base = self.vals.len();
        let ends = self.ends_mut();
        match &other.ends {
            Some(theirs) => ends.extend(theirs.iter().map(|e| base + e)),
            None => ends.extend((1..=other.count).map(|k| base + k * other.width)),
        }
        self.vals.extend_from_slice(&other.vals);
        self.count += other.count;
    }

    fn len(&self) -> usize {
        self.count
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }

    #[inline]
    fn row(&self, i: usize) -> &[T] {
        match &self.ends {
            None => &self.vals[i * self.width..(i + 1) * self.width],
            Some(ends) => &self.vals[if i == 0 { 0 } else { ends[i - 1] }..ends[i]],
        }
    }

    fn iter(&self) -> impl Iterator<Item = &[T]> {
        (0..self.count).map(|i| self.row(i))
    }

    fn from_nested(rows: Vec<Vec<T>>) -> Rows<T> {
        let mut out = Rows::default();
        for row in rows {
            let start = out.vals.len();
            out.vals.extend_from_slice(&row);
            out.end_row(start);
        }
        out
    }
}

/// A graph file's states as read: whole numbers straight into `i32` by the plain-layout
/// reader, numbers by `serde_json` (checked to be 32-bit integers afterwards).
#[derive(Debug, PartialEq)]
enum States {
    Ints(Rows<i32>),
    Numbers(Rows<f64>),
}

impl Default for States {
    fn default() -> Self {
        States::Ints(Rows::default())
    }
}

impl States {
    fn len(&self) -> usize {
        match self {
            States::Ints(r) => r.len(),
            States::Numbers(r) => r.len(),
        }
    }

    fn row_len(&self, v: usize) -> usize {
        match self {
            States::Ints(r) => r.row(v).len(),
            States::Numbers(r) => r.row(v).len(),
        }
    }
}

/// A graph file's fields, as read, arrays flat.
#[derive(Debug, Default, PartialEq)]
struct Flat {
    states: States,
    vertex_indices: Vec<f64>,
    edges: Rows,
    constant_edges: Rows,
    start_edges: Rows,
    param_edges: Rows,
    start_param_edges: Rows,
    param_length: usize,
    state_length: usize,
    n_vertices: usize,
    weight_mode: Option<String>,
    discrete: bool,
}

impl From<Raw> for Flat {
    fn from(raw: Raw) -> Flat {
        Flat {
            states: States::Numbers(Rows::from_nested(raw.states)),
            vertex_indices: raw.vertex_indices,
            edges: Rows::from_nested(raw.edges),
            constant_edges: Rows::from_nested(raw.constant_edges),
            start_edges: Rows::from_nested(raw.start_edges),
            param_edges: Rows::from_nested(raw.param_edges),
            start_param_edges: Rows::from_nested(raw.start_param_edges),
            param_length: raw.param_length,
            state_length: raw.state_length,
            n_vertices: raw.n_vertices,
            weight_mode: raw.weight_mode,
            discrete: raw.discrete,
        }
    }
}

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, place: impl Into<String>, message: impl Into<String>) -> GraphFileError {
        GraphFileError {
            file: self.file.to_string(),
            place: place.into(),
            message: message.into(),
        }
    }

    #[inline]
    fn index(
        &self,
        key: &str,
        row: usize,
        what: &str,
        x: f64,
        n: usize,
    ) -> Result<usize, GraphFileError> {
        // A whole number in range survives the round trip through usize.
        let i = x as usize;
        if i as f64 == x && i < n {
            return Ok(i);
        }
        if x.fract() != 0.0 || x < 0.0 || !x.is_finite() {
            return Err(self.err(
                format!("{key}[{row}]"),
                format!("{what} index {x} is not a whole number >= 0"),
            ));
        }
        if x as usize >= n {
            return Err(self.err(
                format!("{key}[{row}]"),
                format!(
                    "{what} index {x} is out of range: the graph has {n} vertices (0..{})",
                    n.saturating_sub(1)
                ),
            ));
        }
        Ok(x as usize)
    }
}

impl GraphFile {
    /// Reads and validates a graph file.
    pub fn read(path: &Path) -> Result<Graph, GraphFileError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| GraphFileError {
            file: name.clone(),
            place: "file".into(),
            message: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, &name)
    }

    /// Parses and validates graph-file text; `name` is used in error messages.
    pub fn parse(text: &str, name: &str) -> Result<Graph, GraphFileError> {
        let ctx = Ctx { file: name };
        let flat = match scan::scan(text) {
            Some(flat) => flat,
            None => read_with_serde(&ctx, text)?,
        };
        from_flat(&ctx, flat)
    }

    /// Writes `graph` in phasic's serialize() layout.
    pub fn to_bytes(graph: &Graph) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + graph.edge_count() * 24);
        write_json(graph, &mut out).expect("writing to a Vec cannot fail");
        out
    }
}

/// The general JSON reader, for what [`scan::scan`] leaves: any layout `serde_json` accepts, and
/// its errors with their line and column.
fn read_with_serde(ctx: &Ctx<'_>, text: &str) -> Result<Flat, GraphFileError> {
    let raw: Raw = serde_json::from_str(text).map_err(|e| json_error(ctx, text, &e))?;
    Ok(Flat::from(raw))
}

fn json_error(ctx: &Ctx<'_>, text: &str, e: &serde_json::Error) -> GraphFileError {
    let place = format!("line {} column {}", e.line(), e.column());
    if e.is_syntax() && e.line() > 0 {
        // serde_json points at the offending token; name NaN and infinities plainly.
        if let Some(line) = text.lines().nth(e.line() - 1) {
            let at = line.get(e.column().saturating_sub(1)..).unwrap_or("");
            for bad in ["NaN", "Infinity", "-Infinity", "inf", "nan"] {
                if at.starts_with(bad) || at.trim_start_matches(['[', ',', ' ']).starts_with(bad) {
                    return ctx.err(
                        place,
                        format!(
                            "{bad} is not allowed: every number in a graph file must be finite"
                        ),
                    );
                }
            }
        }
    }
    ctx.err(place, format!("not a valid graph file: {e}"))
}

/// The most parameters a graph file may declare.
pub const MAX_PARAM_LENGTH: usize = 1 << 20;

fn from_flat(ctx: &Ctx<'_>, raw: Flat) -> Result<Graph, GraphFileError> {
    let n = raw.n_vertices;
    if let Some(mode) = &raw.weight_mode
        && mode != "linear"
    {
        return Err(ctx.err(
            "weight_mode",
            format!("'{mode}' is not supported; ptd reads linear weights (rate = dot(coefficients, theta))"),
        ));
    }
    if n == 0 {
        return Err(ctx.err("n_vertices", "must be at least 1 (the starting vertex)"));
    }
    if raw.state_length == 0 {
        return Err(ctx.err("state_length", "must be at least 1"));
    }
    if raw.states.len() != n {
        return Err(ctx.err(
            "states",
            format!("has {} rows but n_vertices is {n}", raw.states.len()),
        ));
    }
    if raw.vertex_indices.len() != n {
        return Err(ctx.err(
            "vertex_indices",
            format!(
                "has {} entries but n_vertices is {n}",
                raw.vertex_indices.len()
            ),
        ));
    }
    for (i, &x) in raw.vertex_indices.iter().enumerate() {
        if x != i as f64 {
            return Err(ctx.err(
                format!("vertex_indices[{i}]"),
                format!("is {x}, expected {i}: rows must be the vertices in index order, the starting vertex first"),
            ));
        }
    }
    if !raw.constant_edges.is_empty() {
        return Err(ctx.err(
            "constant_edges",
            "coefficient-less constant edges are not supported: phasic.Graph.from_serialized ignores this key, so the graph phasic rebuilds would differ; put constant rates in 'edges' (param_length 0)",
        ));
    }
    if !raw.start_param_edges.is_empty() {
        return Err(ctx.err(
            "start_param_edges",
            "parameterized start edges are not supported: phasic 0.32.1 never rescales start edges by theta; give the initial weights in 'start_edges'",
        ));
    }
    let constant = raw.param_edges.is_empty() && !raw.edges.is_empty();
    if !raw.param_edges.is_empty() && !raw.edges.is_empty() {
        return Err(ctx.err(
            "edges",
            "constant edges cannot be mixed with param_edges (phasic refuses to mix them); write each constant rate c as a coefficient row, e.g. [from, to, c, 0, ...] with theta fixed",
        ));
    }
    if constant && raw.param_length != 0 {
        return Err(ctx.err(
            "param_length",
            format!("is {} but all rates are constant ('edges'); set it to 0, or move the rates to param_edges as coefficients", raw.param_length),
        ));
    }
    if !constant && raw.param_length == 0 && !raw.param_edges.is_empty() {
        return Err(ctx.err(
            "param_length",
            "is 0 but param_edges are given; set it to the number of coefficients per edge",
        ));
    }
    let param_length = if constant { 0 } else { raw.param_length };
    if param_length > MAX_PARAM_LENGTH {
        return Err(ctx.err(
            "param_length",
            format!("is {param_length}, more than the {MAX_PARAM_LENGTH} parameters ptd accepts"),
        ));
    }
    let Flat {
        states: state_rows,
        start_edges,
        edges,
        param_edges,
        state_length,
        discrete,
        ..
    } = raw;
    // Every row's length before anything is sized by state_length, so that a huge
    // state_length in a small file cannot make ptd allocate for it.
    for v in 0..n {
        let len = state_rows.row_len(v);
        if len != state_length {
            return Err(ctx.err(
                format!("states[{v}]"),
                format!("has {len} entries but state_length is {state_length}"),
            ));
        }
    }
    if u32::try_from(n).is_err() {
        return Err(ctx.err(
            "n_vertices",
            format!("is {n}, more than the {} vertices ptd holds", u32::MAX),
        ));
    }
    let states = match state_rows {
        // Every row has state_length entries: the values are the states, row after row.
        States::Ints(rows) => {
            zero_start(ctx, &rows.vals[..state_length])?;
            rows.vals
        }
        // Checks the starting vertex's state once its row is read, before later rows.
        States::Numbers(rows) => whole_states(ctx, &rows, n, state_length)?,
    };
    let mut start: Vec<(u32, f64)> = Vec::with_capacity(start_edges.len());
    for (row, e) in start_edges.iter().enumerate() {
        let place = || format!("start_edges[{row}]");
        if e.len() != 2 {
            return Err(ctx.err(
                place(),
                format!("has {} entries, expected [to, weight]", e.len()),
            ));
        }
        let to = ctx.index("start_edges", row, "target", e[0], n)?;
        if to == 0 {
            return Err(ctx.err(place(), "the starting vertex cannot point at itself"));
        }
        check_rate(ctx, &place(), "weight", e[1], true)?;
        start.push((to as u32, e[1]));
    }
    let (key, rows, width) = if constant {
        ("edges", edges, 1)
    } else {
        ("param_edges", param_edges, param_length)
    };
    // Compressed rows: the good rows, in (source, target) order, without their (from, to)
    // columns. Rows already in that order, as ptd writes them, are taken as they are checked.
    let m = rows.len();
    let mut csr = Compressed {
        offsets: vec![0usize; n + 1],
        targets: Vec::with_capacity(m),
        coeffs: Vec::with_capacity(m * width),
    };
    // Each row on its own, up to the first bad one; whether the good rows are already in order.
    let edge_rows = EdgeRows {
        ctx,
        key,
        width,
        constant,
        n,
    };
    let mut bad: Option<(usize, GraphFileError)> = None;
    let mut sorted = true;
    let mut prev = (0, 0);
    for row in 0..m {
        let e = rows.row(row);
        match edge_rows.check(row, e) {
            Ok(pair) => {
                sorted &= row == 0 || pair > prev;
                prev = pair;
                if sorted {
                    csr.push(e);
                }
            }
            Err(e) => {
                bad = Some((row, e));
                break;
            }
        }
    }
    let good = bad.as_ref().map_or(rows.len(), |(row, _)| *row);
    // Rows in (source, target) order, unless they already are; a repeated pair among the good
    // rows is reported at its second row, before a later bad row, as reading row by row would.
    let order = if sorted {
        None
    } else {
        let (order, parallel) = edge_order(&rows, good, n);
        if let Some((first, second)) = parallel {
            let e = rows.row(second);
            let (from, to) = (e[0] as usize, e[1] as usize);
            return Err(ctx.err(
                format!("{key}[{second}]"),
                format!("second edge {from} -> {to} (the first is {key}[{first}]); merge them by adding their coefficients"),
            ));
        }
        Some(order)
    };
    if let Some((_, e)) = bad {
        return Err(e);
    }
    if discrete && constant {
        let mut total = vec![0.0; n];
        for e in rows.iter() {
            if let Some(t) = total.get_mut(e[0] as usize) {
                *t += e.get(2).copied().unwrap_or(0.0);
            }
        }
        if let Some((v, t)) = total.iter().enumerate().find(|(_, t)| **t > 1.0 + 1e-12) {
            return Err(ctx.err(
                "edges",
                format!("vertex {v}'s step probabilities sum to {t}, more than 1 (a discrete graph's edge weights are one-step probabilities; the rest is the chance to stay)"),
            ));
        }
    }
    start.sort_by_key(|e| e.0);
    for pair in start.windows(2) {
        if pair[0].0 == pair[1].0 {
            let e = GraphError::ParallelEdge {
                from: 0,
                to: pair[0].0 as usize,
            };
            return Err(ctx.err(key, e.to_string()));
        }
    }
    if !start.iter().any(|&(_, w)| w > 0.0) {
        return Err(ctx.err("start_edges", GraphError::NoStart.to_string()));
    }
    if let Some(order) = order {
        csr.offsets.fill(0);
        csr.targets.clear();
        csr.coeffs.clear();
        for r in order {
            csr.push(rows.row(r));
        }
    }
    let Compressed {
        mut offsets,
        targets,
        coeffs,
    } = csr;
    drop(rows);
    for v in 0..n {
        offsets[v + 1] += offsets[v];
    }
    let graph = Graph {
        state_length,
        param_length,
        states,
        start,
        offsets,
        targets,
        coeffs,
        discrete,
    };
    graph
        .check_model()
        .map_err(|e| ctx.err(e.state_row().unwrap_or_else(|| key.into()), e.to_string()))?;
    Ok(graph)
}

/// A graph's edges as compressed rows, while they are taken from a graph file's rows.
struct Compressed {
    /// Edges per source (turned into offsets once all are taken).
    offsets: Vec<usize>,
    targets: Vec<u32>,
    coeffs: Vec<f64>,
}

impl Compressed {
    /// Takes a checked row `[from, to, c...]`; rows must come in (source, target) order.
    fn push(&mut self, e: &[f64]) {
        self.offsets[e[0] as usize + 1] += 1;
        self.targets.push(e[1] as u32);
        self.coeffs.extend_from_slice(&e[2..]);
    }
}

/// States read as numbers, each checked to be a 32-bit integer (rows of `state_length`).
fn whole_states(
    ctx: &Ctx<'_>,
    rows: &Rows<f64>,
    n: usize,
    state_length: usize,
) -> Result<Vec<i32>, GraphFileError> {
    // The rows hold exactly n * state_length numbers, so this allocation is bounded by the file.
    let mut states: Vec<i32> = Vec::with_capacity(n * state_length);
    for v in 0..n {
        for &x in rows.row(v) {
            // A 32-bit integer survives the round trip through i32.
            if (x as i32) as f64 == x {
                states.push(x as i32);
                continue;
            }
            if x.fract() != 0.0 || x < i32::MIN as f64 || x > i32::MAX as f64 {
                return Err(ctx.err(
                    format!("states[{v}]"),
                    format!("{x} is not a 32-bit integer"),
                ));
            }
            states.push(x as i32);
        }
        if v == 0 {
            zero_start(ctx, &states)?;
        }
    }
    Ok(states)
}

/// The starting vertex's state (the first row) must be all zeros.
fn zero_start(ctx: &Ctx<'_>, first: &[i32]) -> Result<(), GraphFileError> {
    if first.iter().any(|&s| s != 0) {
        return Err(ctx.err(
            "states[0]",
            "the starting vertex must have the all-zero state",
        ));
    }
    Ok(())
}

/// The edge rows of a graph file (`key`: `edges` or `param_edges`), each checked on its own.
struct EdgeRows<'a> {
    ctx: &'a Ctx<'a>,
    key: &'a str,
    /// Coefficients per row.
    width: usize,
    constant: bool,
    /// Vertices.
    n: usize,
}

impl EdgeRows<'_> {
    /// Checks row `row`, `[from, to, c...]`; returns (from, to). A good row is recognised
    /// inline; any other is left to [`Self::error`], which names its fault.
    #[inline]
    fn check(&self, row: usize, e: &[f64]) -> Result<(usize, usize), GraphFileError> {
        // A whole number in 1..n, which fits a u32 (n_vertices does).
        let n = self.n as f64;
        let vertex = |x: f64| {
            let i = x as u32;
            (x >= 1.0 && x < n && f64::from(i) == x).then_some(i as usize)
        };
        if e.len() == 2 + self.width
            && let (Some(from), Some(to)) = (vertex(e[0]), vertex(e[1]))
            && from != to
            && e[2..]
                .iter()
                .all(|c| c.is_finite() && !(self.constant && *c < 0.0))
        {
            return Ok((from, to));
        }
        self.error(row, e)
    }

    /// [`Self::check`] step by step, for a row that is not plainly good: its error, or (from,
    /// to) after all.
    #[cold]
    #[inline(never)]
    fn error(&self, row: usize, e: &[f64]) -> Result<(usize, usize), GraphFileError> {
        let place = || format!("{}[{row}]", self.key);
        if e.len() != 2 + self.width {
            return Err(self.ctx.err(
                place(),
                if self.constant {
                    format!("has {} entries, expected [from, to, rate]", e.len())
                } else {
                    format!(
                        "has {} coefficients, expected param_length = {} (row [from, to, c_1..c_{}])",
                        e.len().saturating_sub(2),
                        self.width,
                        self.width
                    )
                },
            ));
        }
        let from = self.ctx.index(self.key, row, "source", e[0], self.n)?;
        let to = self.ctx.index(self.key, row, "target", e[1], self.n)?;
        if from == 0 {
            return Err(self.ctx.err(
                place(),
                "edges out of the starting vertex belong in start_edges",
            ));
        }
        if to == 0 {
            return Err(self.ctx.err(
                place(),
                "nothing may point at the starting vertex (index 0)",
            ));
        }
        if from == to {
            return Err(self.ctx.err(
                place(),
                format!("vertex {from} points at itself; phasic rejects self-loops"),
            ));
        }
        for &c in &e[2..] {
            if !c.is_finite() || (self.constant && c < 0.0) {
                check_rate(
                    self.ctx,
                    &place(),
                    if self.constant { "rate" } else { "coefficient" },
                    c,
                    self.constant,
                )?;
            }
        }
        Ok((from, to))
    }
}

/// The first `count` rows (each already checked) in (source, target) order, ties by row, and
/// the first repeated (source, target) pair as (its first row, its second row), the second as
/// early as possible.
///
/// A counting sort by source keeps rows in file order within each source; only the rows of
/// one source whose targets are out of order are sorted.
fn edge_order(rows: &Rows, count: usize, n: usize) -> (Vec<usize>, Option<(usize, usize)>) {
    let mut at = vec![0usize; n + 1];
    for r in 0..count {
        at[rows.row(r)[0] as usize + 1] += 1;
    }
    for v in 0..n {
        at[v + 1] += at[v];
    }
    let mut order = vec![0usize; count];
    let mut fill = at.clone();
    for r in 0..count {
        let from = rows.row(r)[0] as usize;
        order[fill[from]] = r;
        fill[from] += 1;
    }
    drop(fill);
    let to = |r: usize| rows.row(r)[1] as usize;
    let mut parallel: Option<(usize, usize)> = None;
    for v in 0..n {
        let run = &mut order[at[v]..at[v + 1]];
        if !run.windows(2).all(|p| to(p[0]) < to(p[1])) {
            run.sort_unstable_by_key(|&r| (to(r), r));
        }
        for p in run.windows(2) {
            if to(p[0]) == to(p[1]) && parallel.is_none_or(|(_, second)| p[1] < second) {
                parallel = Some((p[0], p[1]));
            }
        }
    }
    (order, parallel)
}

fn check_rate(
    ctx: &Ctx<'_>,
    place: &str,
    what: &str,
    x: f64,
    nonneg: bool,
) -> Result<(), GraphFileError> {
    if !x.is_finite() {
        return Err(ctx.err(place, format!("{what} {x} is not a finite number")));
    }
    if nonneg && x < 0.0 {
        return Err(ctx.err(
            place,
            format!("negative constant {what} {x}; rates must be >= 0"),
        ));
    }
    Ok(())
}

fn write_f64(out: &mut Vec<u8>, x: f64) {
    // Shortest round-trip form; -0.0 is written as 0.0 so equal graphs give equal files.
    let x = if x == 0.0 { 0.0 } else { x };
    serde_json::to_writer(&mut *out, &x).expect("finite float");
}

fn write_json(g: &Graph, out: &mut Vec<u8>) -> std::io::Result<()> {
    let n = g.vertex_count();
    out.extend_from_slice(b"{\n  \"states\": [");
    for v in 0..n {
        if v > 0 {
            out.push(b',');
        }
        out.push(b'[');
        for (k, s) in g.state(v).iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            write!(out, "{s}")?;
        }
        out.push(b']');
    }
    out.extend_from_slice(b"],\n  \"vertex_indices\": [");
    for v in 0..n {
        if v > 0 {
            out.push(b',');
        }
        write!(out, "{v}")?;
    }
    out.extend_from_slice(b"],\n");
    let edge_rows = |out: &mut Vec<u8>| -> std::io::Result<()> {
        let mut first = true;
        for v in 1..n {
            for e in g.edges(v) {
                if !first {
                    out.push(b',');
                }
                first = false;
                write!(out, "[{v},{}", e.to)?;
                for &c in e.coeffs {
                    out.push(b',');
                    write_f64(out, c);
                }
                out.push(b']');
            }
        }
        Ok(())
    };
    out.extend_from_slice(b"  \"edges\": [");
    if !g.is_parameterized() {
        edge_rows(out)?;
    }
    out.extend_from_slice(b"],\n  \"constant_edges\": [],\n  \"start_edges\": [");
    for (k, &(to, w)) in g.start_edges().iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        write!(out, "[{to},")?;
        write_f64(out, w);
        out.push(b']');
    }
    out.extend_from_slice(b"],\n  \"param_edges\": [");
    if g.is_parameterized() {
        edge_rows(out)?;
    }
    write!(
        out,
        "],\n  \"start_param_edges\": [],\n  \"param_length\": {},\n  \"state_length\": {},\n  \"n_vertices\": {n},\n  \"weight_mode\": \"linear\",\n  \"dyn_ordering\": false{}\n}}\n",
        g.param_length(),
        g.state_length(),
        if g.is_discrete() {
            ",\n  \"discrete\": true"
        } else {
            ""
        }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINGMAN3: &str = r#"{"states": [[0],[3],[2],[1]], "vertex_indices": [0,1,2,3],
        "edges": [], "constant_edges": [], "start_edges": [[1, 1.0]],
        "param_edges": [[1.0, 2.0, 3.0], [2, 3, 1.0]], "start_param_edges": [],
        "param_length": 1, "state_length": 1, "n_vertices": 4,
        "weight_mode": "linear", "dyn_ordering": false}"#;

    fn err(text: &str) -> String {
        GraphFile::parse(text, "g.json").unwrap_err().to_string()
    }

    #[test]
    fn reads_and_round_trips() {
        let g = GraphFile::parse(KINGMAN3, "g.json").unwrap();
        assert_eq!(g.vertex_count(), 4);
        let bytes = GraphFile::to_bytes(&g);
        let again = GraphFile::parse(std::str::from_utf8(&bytes).unwrap(), "out.json").unwrap();
        assert_eq!(g, again);
        assert_eq!(bytes, GraphFile::to_bytes(&again));
    }

    #[test]
    fn names_key_and_row() {
        let e = err(&KINGMAN3.replace("[2, 3, 1.0]", "[2, 7, 1.0]"));
        assert!(
            e.contains("g.json: param_edges[1]") && e.contains("out of range"),
            "{e}"
        );
        let e = err(&KINGMAN3.replace("[2, 3, 1.0]", "[2, 3, 1.0, 2.0]"));
        assert!(
            e.contains("param_edges[1]") && e.contains("expected param_length = 1"),
            "{e}"
        );
        let e = err(&KINGMAN3.replace("[[0],[3],[2],[1]]", "[[0],[3],[3],[1]]"));
        assert!(e.contains("states[2]") && e.contains("same state"), "{e}");
        let e = err(&KINGMAN3.replace("[2, 3, 1.0]", "[2, 3, NaN]"));
        assert!(
            e.contains("line 3") && e.contains("NaN is not allowed"),
            "{e}"
        );
        let e = err(&KINGMAN3.replace("[2, 3, 1.0]", "[2, 1, 1.0]"));
        assert!(
            e.contains("states[1]") && e.contains("cannot reach an absorbing"),
            "{e}"
        );
        let e = err(&KINGMAN3.replace("\"n_vertices\"", "\"n_vertice\""));
        assert!(e.contains("unknown field `n_vertice`"), "{e}");
        let e = err(&KINGMAN3.replace("[1, 1.0]", "[1, -1.0]"));
        assert!(
            e.contains("start_edges[0]") && e.contains("negative"),
            "{e}"
        );
        let e = err(&KINGMAN3
            .replace(
                "\"param_edges\": [[1.0, 2.0, 3.0], [2, 3, 1.0]]",
                "\"param_edges\": []",
            )
            .replace("\"edges\": []", "\"edges\": [[1,2,3.0],[2,3,-1.0]]")
            .replace("\"param_length\": 1", "\"param_length\": 0"));
        assert!(
            e.contains("edges[1]") && e.contains("negative constant rate"),
            "{e}"
        );
    }

    /// Every graph-file input of the fuzz corpus, by name.
    fn corpus() -> Vec<(String, String)> {
        let packed = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz/corpus/graph_file.tar.zst"
        ))
        .unwrap();
        let tar = zstd::decode_all(packed.as_slice()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut out = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            if let Ok(text) = String::from_utf8(data) {
                out.push((e.path().unwrap().display().to_string(), text));
            }
        }
        out
    }

    /// What the flat reader reads, serde_json reads into the same fields, numbers bit for bit
    /// (`Debug` tells -0.0 from 0.0).
    fn agrees_with_serde(text: &str) -> bool {
        let whole = scan::scan_in(text, 1, usize::MAX);
        // Read in parts of any length, the same rows, and the same refusals.
        for min_bytes in [1, 7, 64] {
            for parts in [2, 3, 5] {
                let split = scan::scan_in(text, parts, min_bytes);
                assert_eq!(format!("{split:?}"), format!("{whole:?}"), "{text}");
            }
        }
        let Some(flat) = whole else {
            return false;
        };
        let raw: Raw = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("serde_json refuses what the flat reader read: {e}"));
        let mut theirs = Flat::from(raw);
        // The flat reader reads states only when they are whole numbers, straight into i32.
        if let States::Numbers(rows) = theirs.states {
            assert!(rows.vals.iter().all(|&x| x as i32 as f64 == x), "{text}");
            theirs.states = States::Ints(Rows {
                vals: rows.vals.iter().map(|&x| x as i32).collect(),
                count: rows.count,
                width: rows.width,
                ends: rows.ends,
            });
        }
        assert_eq!(format!("{theirs:?}"), format!("{flat:?}"), "{text}");
        true
    }

    #[test]
    fn flat_reader_agrees_with_serde_on_the_corpus() {
        let corpus = corpus();
        let mut read = 0;
        for (name, text) in &corpus {
            let flat = std::panic::catch_unwind(|| agrees_with_serde(text))
                .unwrap_or_else(|_| panic!("corpus input {name}"));
            read += usize::from(flat);
        }
        // A good part of the corpus is well-formed JSON in the plain layout.
        assert!(read * 10 > corpus.len(), "{read} of {}", corpus.len());
    }

    #[test]
    fn flat_reader_rounds_numbers_as_serde_does() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut read = 0;
        for _ in 0..20_000 {
            let mut t = String::new();
            if next().is_multiple_of(3) {
                t.push('-');
            }
            let int_digits = 1 + next() % 22;
            for k in 0..int_digits {
                let d = next() % 10;
                t.push(char::from(
                    b'0' + if k == 0 && int_digits > 1 {
                        1 + d % 9
                    } else {
                        d
                    } as u8,
                ));
            }
            if next().is_multiple_of(2) {
                t.push('.');
                for _ in 0..1 + next() % 25 {
                    t.push(char::from(b'0' + (next() % 10) as u8));
                }
            }
            if next().is_multiple_of(3) {
                t.push(['e', 'E'][(next() % 2) as usize]);
                t.push_str(["", "+", "-"][(next() % 3) as usize]);
                t.push_str(&(next() % 340).to_string());
            }
            let text = KINGMAN3.replace("[2, 3, 1.0]", &format!("[2, 3, {t}]"));
            read += usize::from(agrees_with_serde(&text));
        }
        assert!(read > 15_000, "{read}");
    }

    #[test]
    fn flat_reader_leaves_what_it_does_not_know_to_serde() {
        for (from, to) in [
            ("\"states\"", "\"st\\u0061tes\""),
            ("[2, 3, 1.0]", "[2, 3, 1e400]"),
            ("[2, 3, 1.0]", "[2, 3, 01]"),
            ("[2, 3, 1.0]", "[2, 3, 1.]"),
            ("[2, 3, 1.0]", "[2, 3, 1.0,]"),
            ("\"param_length\": 1", "\"param_length\": 1.0"),
            (
                "\"weight_mode\": \"linear\"",
                "\"weight_mode\": \"lin\\u0065ar\"",
            ),
            ("\"dyn_ordering\": false", "\"dyn_ordering\": 0"),
            (
                "\"dyn_ordering\": false",
                "\"dyn_ordering\": false, \"dyn_ordering\": false",
            ),
            ("\"n_vertices\": 4,", ""),
        ] {
            let text = KINGMAN3.replace(from, to);
            assert_ne!(text, KINGMAN3);
            assert!(!agrees_with_serde(&text), "{to}");
            assert_eq!(
                format!("{:?}", GraphFile::parse(&text, "g.json")),
                format!(
                    "{:?}",
                    read_with_serde(&Ctx { file: "g.json" }, &text)
                        .and_then(|f| from_flat(&Ctx { file: "g.json" }, f))
                )
            );
        }
        assert!(agrees_with_serde(KINGMAN3));
    }

    #[test]
    fn edges_in_any_order_make_the_same_graph() {
        let sorted = r#"{"states": [[0],[4],[3],[2],[1]], "vertex_indices": [0,1,2,3,4],
            "edges": [], "start_edges": [[1, 1.0]],
            "param_edges": [[1,2,6.0],[1,3,1.0],[2,3,3.0],[2,4,0.5],[3,4,1.0]],
            "start_param_edges": [], "param_length": 1, "state_length": 1, "n_vertices": 5}"#;
        let g = GraphFile::parse(sorted, "g.json").unwrap();
        for rows in [
            "[[1,3,1.0],[1,2,6.0],[2,4,0.5],[2,3,3.0],[3,4,1.0]]",
            "[[3,4,1.0],[2,4,0.5],[1,3,1.0],[2,3,3.0],[1,2,6.0]]",
        ] {
            let text = sorted.replace("[[1,2,6.0],[1,3,1.0],[2,3,3.0],[2,4,0.5],[3,4,1.0]]", rows);
            assert_ne!(text, sorted);
            assert_eq!(GraphFile::parse(&text, "g.json").unwrap(), g);
        }
    }

    #[test]
    fn a_second_edge_names_both_rows_before_a_later_bad_row() {
        let text = |rows: &str| {
            format!(
                r#"{{"states": [[0],[4],[3],[2],[1]], "vertex_indices": [0,1,2,3,4],
                "edges": [], "start_edges": [[1, 1.0]], "param_edges": {rows},
                "start_param_edges": [], "param_length": 1, "state_length": 1, "n_vertices": 5}}"#
            )
        };
        let e = err(&text(
            "[[2,3,3.0],[1,2,6.0],[3,4,1.0],[2,3,1.0],[9,1,1.0],[1,2,1.0]]",
        ));
        assert!(
            e.contains("g.json: param_edges[3]: second edge 2 -> 3 (the first is param_edges[0])"),
            "{e}"
        );
        // The bad row comes first: it is named, not the later repeat.
        let e = err(&text("[[2,3,3.0],[1,2,6.0],[9,1,1.0],[2,3,1.0]]"));
        assert!(
            e.contains("param_edges[2]") && e.contains("out of range"),
            "{e}"
        );
        // Three rows of one pair: the second is named, with the first.
        let e = err(&text("[[3,4,1.0],[2,4,1.0],[1,2,6.0],[2,4,2.0],[2,4,3.0]]"));
        assert!(
            e.contains("param_edges[3]: second edge 2 -> 4 (the first is param_edges[1])"),
            "{e}"
        );
        // Sorted rows with a repeat.
        let e = err(&text("[[1,2,6.0],[2,3,3.0],[2,3,1.0],[3,4,1.0]]"));
        assert!(
            e.contains("param_edges[2]: second edge 2 -> 3 (the first is param_edges[1])"),
            "{e}"
        );
    }
}
