//! Compares ptd with phasic 0.32.1 on the graphs in tests/fixtures/phasic (written by
//! scripts/make_phasic_fixtures.py with the real phasic): content hashes byte for byte, moments
//! to 1e-10 relative, and the built-in generators against the same state spaces built in phasic.

use ptd::eliminate::eliminate;
use ptd::graph::{Graph, GraphBuilder, GraphFile};
use ptd::hash::{canonical_hash, phasic_hash};
use ptd::model::generate;
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> (PathBuf, Vec<Value>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/phasic");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["phasic_version"], "0.32.1");
    let graphs = index["graphs"].as_array().unwrap().clone();
    (dir, graphs)
}

fn load(dir: &std::path::Path, entry: &Value) -> Graph {
    GraphFile::read(&dir.join(entry["file"].as_str().unwrap())).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn enough_graphs_of_each_kind() {
    let (_, graphs) = fixtures();
    assert!(graphs.len() >= 20, "{} graphs", graphs.len());
    let cyclic = graphs
        .iter()
        .filter(|g| g["name"].as_str().unwrap().starts_with("random-cyclic"))
        .count();
    assert!(cyclic >= 5);
}

#[test]
fn phasic_hash_matches_phasic() {
    let (dir, graphs) = fixtures();
    for e in &graphs {
        let g = load(&dir, e);
        assert_eq!(
            hex::encode(phasic_hash(&g)),
            e["phasic_hash"].as_str().unwrap(),
            "{}",
            e["name"]
        );
    }
}

#[test]
fn moments_match_phasic_to_1e10() {
    let (dir, graphs) = fixtures();
    let mut checked = 0;
    for e in &graphs {
        let g = load(&dir, e);
        let s = eliminate(&g);
        for ev in e["evaluations"].as_array().unwrap() {
            let theta = floats(&ev["theta"]);
            let want = floats(&ev["moments"]);
            let got = s.moments(&theta, want.len()).unwrap();
            for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                let rel = ((a - b) / b).abs();
                assert!(
                    rel <= 1e-10,
                    "{} theta {theta:?} moment {}: ptd {a} phasic {b} (rel {rel:e})",
                    e["name"],
                    k + 1
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 200, "{checked} moments compared");
}

#[test]
fn generators_build_the_same_graphs_as_phasic() {
    let (dir, graphs) = fixtures();
    let mut n = 0;
    for e in graphs.iter().filter(|e| e.get("generator").is_some()) {
        let gen_ = &e["generator"];
        let args: toml::Table = toml::Table::try_from(gen_["args"].clone()).unwrap();
        let g = generate(gen_["name"].as_str().unwrap(), &args).unwrap();
        assert_eq!(
            hex::encode(phasic_hash(&g)),
            e["phasic_hash_before_round_trip"].as_str().unwrap(),
            "{}",
            e["name"]
        );
        assert_eq!(g, load(&dir, e), "{}", e["name"]);
        n += 1;
    }
    assert!(n >= 6);
}

/// The same graph with its non-start vertices listed in reverse order.
fn reversed(g: &Graph) -> Graph {
    let n = g.vertex_count();
    let mut b = GraphBuilder::new(g.state_length(), g.param_length());
    let new_of = |v: usize| if v == 0 { 0 } else { n - v };
    for v in (1..n).rev() {
        b.find_or_create(g.state(v));
    }
    for &(to, w) in g.start_edges() {
        b.add_start_edge(new_of(to as usize), w);
    }
    for v in 1..n {
        for e in g.edges(v) {
            b.add_edge(new_of(v), new_of(e.to), e.coeffs);
        }
    }
    b.build().unwrap()
}

#[test]
fn canonical_hash_ignores_vertex_order_and_sees_every_coefficient() {
    let (dir, graphs) = fixtures();
    for e in &graphs {
        let g = load(&dir, e);
        let r = reversed(&g);
        assert_eq!(canonical_hash(&g), canonical_hash(&r), "{}", e["name"]);
        if g.vertex_count() > 3 {
            assert_ne!(phasic_hash(&g), phasic_hash(&r), "{}", e["name"]);
        }
        // Same moments whatever the order.
        let theta = floats(&e["evaluations"][0]["theta"]);
        let a = eliminate(&g).moments(&theta, 3).unwrap();
        let b = eliminate(&r).moments(&theta, 3).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!(((x - y) / y).abs() < 1e-12, "{}: {a:?} vs {b:?}", e["name"]);
        }
        // Changing any one coefficient changes the canonical hash.
        let mut changed = GraphBuilder::new(g.state_length(), g.param_length());
        for v in 1..g.vertex_count() {
            changed.find_or_create(g.state(v));
        }
        for &(to, w) in g.start_edges() {
            changed.add_start_edge(to as usize, w);
        }
        let mut first = true;
        for v in 1..g.vertex_count() {
            for ed in g.edges(v) {
                let mut c = ed.coeffs.to_vec();
                if first {
                    c[0] += 0.5;
                    first = false;
                }
                changed.add_edge(v, ed.to, &c);
            }
        }
        if !first {
            assert_ne!(
                canonical_hash(&g),
                canonical_hash(&changed.build().unwrap()),
                "{}",
                e["name"]
            );
        }
    }
}

#[test]
fn export_round_trips_byte_for_byte() {
    let (dir, graphs) = fixtures();
    for e in &graphs {
        let g = load(&dir, e);
        let bytes = GraphFile::to_bytes(&g);
        let again = GraphFile::parse(std::str::from_utf8(&bytes).unwrap(), "export").unwrap();
        assert_eq!(g, again);
        assert_eq!(bytes, GraphFile::to_bytes(&again));
    }
}
