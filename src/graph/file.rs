//! The graph file: JSON with exactly the keys of phasic's `Graph.serialize()`, arrays as lists.
//!
//! Reading validates everything phasic's `Graph.from_serialized` would trip over, and more, and
//! names the key and row of each problem. Writing is deterministic and produces a file that
//! `phasic.Graph.from_serialized(json.load(f))` rebuilds into the same graph.

use super::{Graph, GraphBuilder, GraphError};
use rustc_hash::FxHashMap;
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

    fn index(
        &self,
        key: &str,
        row: usize,
        what: &str,
        x: f64,
        n: usize,
    ) -> Result<usize, GraphFileError> {
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
        let raw: Raw = serde_json::from_str(text).map_err(|e| json_error(&ctx, text, &e))?;
        from_raw(&ctx, raw)
    }

    /// Writes `graph` in phasic's serialize() layout.
    pub fn to_bytes(graph: &Graph) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + graph.edge_count() * 24);
        write_json(graph, &mut out).expect("writing to a Vec cannot fail");
        out
    }
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

fn from_raw(ctx: &Ctx<'_>, raw: Raw) -> Result<Graph, GraphFileError> {
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
    // Every row's length before anything is sized by state_length, so that a huge
    // state_length in a small file cannot make ptd allocate for it.
    for (v, row) in raw.states.iter().enumerate() {
        if row.len() != raw.state_length {
            return Err(ctx.err(
                format!("states[{v}]"),
                format!(
                    "has {} entries but state_length is {}",
                    row.len(),
                    raw.state_length
                ),
            ));
        }
    }
    let mut b = GraphBuilder::new(raw.state_length, param_length);
    let mut state = Vec::with_capacity(raw.state_length);
    for (v, row) in raw.states.iter().enumerate() {
        state.clear();
        for &x in row {
            if x.fract() != 0.0 || x < i32::MIN as f64 || x > i32::MAX as f64 {
                return Err(ctx.err(
                    format!("states[{v}]"),
                    format!("{x} is not a 32-bit integer"),
                ));
            }
            state.push(x as i32);
        }
        if v == 0 {
            if state.iter().any(|&s| s != 0) {
                return Err(ctx.err(
                    "states[0]",
                    "the starting vertex must have the all-zero state",
                ));
            }
        } else {
            b.push_vertex(&state);
        }
    }
    for (row, e) in raw.start_edges.iter().enumerate() {
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
        b.add_start_edge(to, e[1]);
    }
    let (key, rows, width) = if constant {
        ("edges", &raw.edges, 1)
    } else {
        ("param_edges", &raw.param_edges, param_length)
    };
    let mut seen: FxHashMap<(usize, usize), usize> = FxHashMap::default();
    seen.reserve(rows.len());
    for (row, e) in rows.iter().enumerate() {
        let place = || format!("{key}[{row}]");
        if e.len() != 2 + width {
            return Err(ctx.err(
                place(),
                if constant {
                    format!("has {} entries, expected [from, to, rate]", e.len())
                } else {
                    format!(
                        "has {} coefficients, expected param_length = {width} (row [from, to, c_1..c_{width}])",
                        e.len().saturating_sub(2)
                    )
                },
            ));
        }
        let from = ctx.index(key, row, "source", e[0], n)?;
        let to = ctx.index(key, row, "target", e[1], n)?;
        if from == 0 {
            return Err(ctx.err(
                place(),
                "edges out of the starting vertex belong in start_edges",
            ));
        }
        if to == 0 {
            return Err(ctx.err(
                place(),
                "nothing may point at the starting vertex (index 0)",
            ));
        }
        if from == to {
            return Err(ctx.err(
                place(),
                format!("vertex {from} points at itself; phasic rejects self-loops"),
            ));
        }
        for &c in &e[2..] {
            check_rate(
                ctx,
                &place(),
                if constant { "rate" } else { "coefficient" },
                c,
                constant,
            )?;
        }
        if let Some(first) = seen.insert((from, to), row) {
            return Err(ctx.err(
                place(),
                format!("second edge {from} -> {to} (the first is {key}[{first}]); merge them by adding their coefficients"),
            ));
        }
        b.add_edge(from, to, &e[2..]);
    }
    if raw.discrete && constant {
        let mut total = vec![0.0; n];
        for e in &raw.edges {
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
    b.set_discrete(raw.discrete);
    b.build().map_err(|e| match &e {
        GraphError::DuplicateState { second, .. } => {
            ctx.err(format!("states[{second}]"), e.to_string())
        }
        GraphError::NotAbsorbing { vertex, .. } => {
            ctx.err(format!("states[{vertex}]"), e.to_string())
        }
        GraphError::NoStart => ctx.err("start_edges", e.to_string()),
        GraphError::StateLength { vertex, .. } => {
            ctx.err(format!("states[{vertex}]"), e.to_string())
        }
        _ => ctx.err(key, e.to_string()),
    })
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
}
