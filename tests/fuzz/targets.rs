//! What each fuzz target does with its input, shared by the cargo-fuzz targets
//! (`fuzz_targets/*.rs`) and by `tests/fuzz_corpus.rs`, which replays the corpora (and every
//! crash ever found, kept in `regressions/`) in the normal test suite. None of them may panic.

/// Index files (JSON lines of versions) and a registry's `config.json`.
pub fn index_line(data: &[u8]) {
    let _ = ptd::index::parse_index_file(data, "coalescent/kingman", "fuzz");
    let _ = ptd::index::RegistryConfig::parse(data, "config.json");
}

/// Bundle manifests and JAX archive metadata.
pub fn manifest(data: &[u8]) {
    if let Ok(m) = serde_json::from_slice::<ptd::bundle::Manifest>(data) {
        let _ = ptd::bundle::content_hash(&m.files);
    }
    let _ = serde_json::from_slice::<ptd::jax::archive::JaxMeta>(data);
}

/// Graph files: parsed and validated; a small graph that parses is eliminated and evaluated.
pub fn graph_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(g) = ptd::graph::GraphFile::parse(text, "fuzz.json") else {
        return;
    };
    if g.vertex_count() > 2_000 {
        return;
    }
    let s = ptd::eliminate::eliminate(&g);
    let theta = vec![1.5; s.param_length()];
    let _ = s.moments(&theta, 3);
    let _ = ptd::hash::GraphHashes::of(&g);
}

/// `ptd.lock`, `ptd.toml` and `config.toml`.
pub fn lockfile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ptd::project::Lockfile::parse(text, "ptd.lock");
    let _ = ptd::project::Project::parse(std::path::Path::new("/project"), text);
    if let Ok(c) = ptd::config::Config::parse(text, "config.toml") {
        let _ = c.metadata_limits("config.toml");
    }
}

/// Archive extraction: bundles, JAX platform archives and exports, all read in memory.
pub fn archive(data: &[u8]) {
    let _ = ptd::bundle::unpack(data, "fuzz.ptd.tar.zst");
    let _ = ptd::jax::archive::read(data, "fuzz.jax.tar.zst");
    let _ = ptd::cache::transfer::read_export(data, "fuzz.tar.zst");
}

/// Symbolic DAG files: a DAG that reads is evaluated and its evaluator tables derived.
pub fn dag(data: &[u8]) {
    let Ok(s) = ptd::eliminate::Symbolic::from_bytes(data, "dag.json") else {
        return;
    };
    // Evaluating allocates per node and per vertex the DAG claims; ptd evaluates only DAGs
    // checked against their graph, whose vertex count its file bounds.
    if s.dag().len() > 100_000 || s.n_vertices() > 1_000_000 {
        return;
    }
    let theta = vec![0.7; s.param_length()];
    let _ = s.moments(&theta, 2);
    let version = semver::Version::new(1, 0, 0);
    let params: Vec<String> = (0..s.param_length()).map(|i| format!("p{i}")).collect();
    let _ = ptd::jax::emit::tables_file(
        &s,
        &ptd::jax::emit::Header {
            name: "fuzz/dag",
            version: &version,
            parameters: &params,
            graph_hash: "0",
            atom0: 0.0,
        },
    );
}

/// A small graph with a cycle, exits and two parameters: what [`dag_check`] checks DAGs against.
pub fn check_graph() -> ptd::graph::Graph {
    let mut b = ptd::graph::GraphBuilder::new(1, 2);
    let (a, _) = b.find_or_create(&[1]);
    let (c, _) = b.find_or_create(&[2]);
    let (d, _) = b.find_or_create(&[3]);
    let (z, _) = b.find_or_create(&[4]);
    b.add_start_edge(a, 1.0);
    b.add_start_edge(d, 0.5);
    b.add_edge(a, c, &[1.0, 0.0]);
    b.add_edge(c, a, &[0.0, 2.0]);
    b.add_edge(c, d, &[0.5, 0.5]);
    b.add_edge(d, a, &[0.25, 0.0]);
    b.add_edge(a, z, &[0.5, 0.0]);
    b.add_edge(d, z, &[0.0, 1.0]);
    b.build().expect("a valid graph")
}

/// Whether a DAG belongs to a graph: any DAG that reads is checked against [`check_graph`]
/// (the check a bundle's DAG faces at install); only the graph's own elimination may pass.
pub fn dag_check(data: &[u8]) {
    let Ok(s) = ptd::eliminate::Symbolic::from_bytes(data, "dag.json") else {
        return;
    };
    // Evaluating allocates per node and per vertex the DAG claims; ptd evaluates only DAGs
    // checked against their graph, whose vertex count its file bounds.
    if s.dag().len() > 100_000 || s.n_vertices() > 1_000_000 {
        return;
    }
    let g = check_graph();
    let thetas = ptd::eliminate::random_thetas(2, 2, 42);
    if s.check_graph(&g, &thetas, 7).is_ok() {
        let own = ptd::eliminate::eliminate(&g);
        for t in &thetas {
            let (a, b) = (s.moments(t, 2), own.moments(t, 2));
            if let (Ok(a), Ok(b)) = (a, b) {
                for (x, y) in a.iter().zip(&b) {
                    assert!(
                        (x - y).abs() <= 1e-6 * y.abs(),
                        "a DAG that passed the check gives {x} where the graph gives {y}"
                    );
                }
            }
        }
    }
}

/// Binary graphs (`graph.bin`): read with every check and as installed; one that reads is
/// written again and must read back the same, and a small one is hashed, eliminated and
/// evaluated.
pub fn graph_bin(data: &[u8]) {
    let installed = ptd::graph::Graph::from_binary_installed(data, "graph.bin");
    let Ok(g) = ptd::graph::Graph::from_binary(data, "graph.bin") else {
        return;
    };
    assert!(
        installed.is_ok(),
        "a graph that reads fully also reads as installed"
    );
    let again = ptd::graph::Graph::from_binary(&g.to_binary(), "graph.bin")
        .expect("a graph written again reads");
    assert_eq!(again, g, "a graph written again reads back the same");
    if g.vertex_count() > 2_000 {
        return;
    }
    let _ = ptd::hash::GraphHashes::of(&g);
    let s = ptd::eliminate::eliminate(&g);
    let theta = vec![1.5; s.param_length()];
    let _ = s.moments(&theta, 3);
}

/// Binary DAGs (`dag.bin`): one that reads is written again and must read back the same, is
/// evaluated and its evaluator tables derived, and is checked against [`check_graph`] like
/// [`dag_check`].
pub fn dag_bin(data: &[u8]) {
    let Ok(s) = ptd::eliminate::Symbolic::from_binary(data, "dag.bin") else {
        return;
    };
    let again = ptd::eliminate::Symbolic::from_binary(&s.to_binary(), "dag.bin")
        .expect("a DAG written again reads");
    assert_eq!(again, s, "a DAG written again reads back the same");
    if s.dag().len() > 100_000 {
        return;
    }
    dag(&s.to_bytes());
    dag_check(&s.to_bytes());
}

/// A target: its name and what it does with an input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target by name, for the corpus replay.
pub const TARGETS: [Target; 9] = [
    ("index_line", index_line),
    ("manifest", manifest),
    ("graph_file", graph_file),
    ("lockfile", lockfile),
    ("archive", archive),
    ("dag", dag),
    ("dag_check", dag_check),
    ("graph_bin", graph_bin),
    ("dag_bin", dag_bin),
];
