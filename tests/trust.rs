//! Trust boundaries: what a validly signed bundle from a trusted registry can and cannot do.
//! Every bundle here is signed by the registry's own key, so only ptd's own checks stand between
//! it and the user's caches: the keys ptd files things under are computed from the graph, the DAG
//! must belong to the graph, a tier-1 entry is never replaced, bundles carry no code, and their
//! content is validated before anything is placed.

mod support;

use ptd::bundle::{self, Manifest};
use support::{HttpRegistry, User, json, models, record};

/// Records one fault of this file's kind, injected and survived, for docs/reliability.md.
fn survived(fault: &str) {
    record("trust", fault, 1, 1, 0);
}

/// A change made to a bundle's files.
type Edit = Box<dyn Fn(&mut Crafted)>;

/// A bundle's files, editable: the manifest and the payload in archive order.
struct Crafted {
    manifest: Manifest,
    files: Vec<(String, Vec<u8>)>,
}

impl Crafted {
    /// The honest bundle of a model under `models/`, renamed `name` 1.0.0, in the format this
    /// ptd builds (binary graph and DAG).
    fn of(model: &str, name: &str) -> Crafted {
        Self::in_format(model, name, bundle::FORMAT_VERSION)
    }

    /// The same in a given bundle format version (3: JSON graph and DAG, still installable).
    fn in_format(model: &str, name: &str, format_version: u32) -> Crafted {
        let input = ptd::input::Input::open(&models().join(model)).unwrap();
        let mut meta = input.meta().clone();
        meta.name = name.to_string();
        meta.version = semver::Version::new(1, 0, 0);
        let graph = input.graph().unwrap();
        let built = bundle::build_in_format(
            &meta,
            graph,
            &ptd::eliminate::eliminate(graph),
            &Default::default(),
            format_version,
        );
        let files = built
            .manifest
            .files
            .iter()
            .map(|f| (f.path.clone(), built.payload(&f.path).unwrap().to_vec()))
            .collect();
        Crafted {
            manifest: built.manifest.clone(),
            files,
        }
    }

    fn file(&mut self, name: &str) -> &mut Vec<u8> {
        &mut self.files.iter_mut().find(|(n, _)| n == name).unwrap().1
    }

    /// The bundle's graph and DAG files (`graph.bin`, `dag.bin`, or the JSON ones).
    fn names(&self) -> (String, String) {
        (self.files[1].0.clone(), self.files[2].0.clone())
    }

    /// The DAG as JSON (`dag.json`'s form), whatever the bundle's format.
    fn dag_json(&self) -> serde_json::Value {
        let (_, dag) = self.names();
        let s = bundle::read_dag(&dag, &self.files[2].1, &dag).unwrap();
        serde_json::from_slice(&s.to_bytes()).unwrap()
    }

    /// Replaces the DAG with `v` (in `dag.json`'s form), written in the bundle's format.
    fn set_dag_json(&mut self, v: &serde_json::Value) {
        let (_, dag) = self.names();
        let s = ptd::eliminate::Symbolic::from_bytes(&serde_json::to_vec(v).unwrap(), "d").unwrap();
        *self.file(&dag) = bundle::dag_bytes(&dag, &s);
    }

    /// The graph as a graph file's JSON, whatever the bundle's format.
    fn graph_json(&self) -> serde_json::Value {
        let (graph, _) = self.names();
        let g = bundle::read_graph(&graph, &self.files[1].1, &graph).unwrap();
        serde_json::from_slice(&ptd::graph::GraphFile::to_bytes(&g)).unwrap()
    }

    /// Packs the files with a manifest whose sizes, SHA-256s and content hash are right for
    /// them (whatever else it claims).
    fn pack(mut self) -> (Vec<u8>, Manifest) {
        self.manifest.files = bundle::list_files(&self.files);
        self.manifest.content_hash = bundle::content_hash(&self.manifest.files).unwrap();
        let mut m = serde_json::to_vec_pretty(&self.manifest).unwrap();
        m.push(b'\n');
        let bytes = bundle::pack_entries(
            std::iter::once(("manifest.json", m.as_slice()))
                .chain(self.files.iter().map(|(n, b)| (n.as_str(), b.as_slice()))),
        )
        .unwrap();
        (bytes, self.manifest)
    }

    /// Packs and lists the bundle in `reg`, signed, claiming the manifest's hashes.
    fn list(self, reg: &HttpRegistry) -> Manifest {
        let (bytes, m) = self.pack();
        list_as(reg, &bytes, &m);
        m
    }
}

/// Lists `bytes` in `reg`, signed, as the 1.0.0 of the model `m` names, claiming `m`'s hashes.
fn list_as(reg: &HttpRegistry, bytes: &[u8], m: &Manifest) {
    reg.list_signed(
        &m.name,
        "1.0.0",
        bytes,
        (&m.content_hash, &m.hashes.phasic, &m.hashes.canonical),
    );
}

/// A user with `coalescent/kingman` installed from `reg`: the victim. Returns its tier-1 DAG
/// path and bytes.
fn victim(reg: &HttpRegistry, user: &User) -> (std::path::PathBuf, Vec<u8>) {
    reg.publish(&models().join("coalescent/kingman"));
    let out = user.ok(&[
        "install",
        "coalescent/kingman",
        "--registry",
        &reg.index_url(),
        "--json",
    ]);
    let item = &json(&out)["installed"][0];
    let dag = std::path::PathBuf::from(item["symbolic"].as_str().unwrap());
    let bytes = std::fs::read(&dag).unwrap();
    (dag, bytes)
}

/// `ptd verify --json`, whatever its exit status (non-zero when it finds problems).
fn verify_json(user: &User) -> serde_json::Value {
    json(&user.run_env(&["verify", "--json"], &[]))
}

fn verify_clean(user: &User) {
    let out = user.ok(&["verify", "--json"]);
    let v = json(&out);
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v}");
}

#[test]
fn a_bundle_claiming_another_graphs_hash_cannot_take_its_tier1_entry() {
    let reg = HttpRegistry::new();
    let user = User::new();
    let (dag, before) = victim(&reg, &user);
    let kingman = ptd::input::Input::open(&models().join("coalescent/kingman")).unwrap();
    let hashes = ptd::hash::GraphHashes::of(kingman.graph().unwrap());
    // Another model's graph and DAG, filed under the victim's hashes.
    let mut evil = Crafted::of("coalescent/two-island", "lab/evil");
    evil.manifest.hashes = hashes.clone();
    evil.list(&reg);
    let err = user.fails(&["install", "lab/evil", "--registry", &reg.index_url()]);
    assert!(err.contains("filed under another graph"), "{err}");
    assert!(err.contains(&hashes.phasic), "{err}");
    assert_eq!(
        std::fs::read(&dag).unwrap(),
        before,
        "the victim's DAG is untouched"
    );
    assert_eq!(user.installed().len(), 1);
    verify_clean(&user);
    let out = user.ok(&["cache", "path", "coalescent/kingman", "--json"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&hashes.phasic));
    survived("a signed bundle claiming another model's phasic hash");
}

#[test]
fn a_dag_that_does_not_belong_to_its_graph_is_refused() {
    let reg = HttpRegistry::new();
    let user = User::new();
    let (dag, before) = victim(&reg, &user);
    // The victim's own graph (so its hashes are honest), with a DAG that is not its own.
    let cases: Vec<(&str, Edit)> = vec![
        (
            "another model's DAG",
            Box::new(|c: &mut Crafted| {
                let v = c.manifest.format_version;
                let other = Crafted::in_format("coalescent/two-island", "x/y", v);
                c.files[2].1 = other.files[2].1.clone();
            }),
        ),
        (
            "one constant changed",
            Box::new(|c: &mut Crafted| {
                let mut d = c.dag_json();
                let node = d["nodes"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|n| n[0] == 0 && n[1].as_f64().unwrap() > 1.0)
                    .unwrap();
                node[1] = serde_json::json!(node[1].as_f64().unwrap() * 2.0);
                c.set_dag_json(&d);
            }),
        ),
        (
            "the elimination of a graph with one rate doubled",
            Box::new(|c: &mut Crafted| {
                let mut g = c.graph_json();
                let text = serde_json::to_string(&g).unwrap();
                // Double the first non-zero edge coefficient of the first vertex with edges.
                double_first_coefficient(&mut g);
                assert_ne!(serde_json::to_string(&g).unwrap(), text);
                let graph =
                    ptd::graph::GraphFile::parse(&serde_json::to_string(&g).unwrap(), "g").unwrap();
                let (_, dag) = c.names();
                *c.file(&dag) = bundle::dag_bytes(&dag, &ptd::eliminate::eliminate(&graph));
            }),
        ),
    ];
    // In the format this ptd builds, and in the JSON format it still installs.
    let formats = [bundle::FORMAT_VERSION, bundle::JSON_FORMAT_VERSION];
    for ((case, edit), format) in cases
        .iter()
        .flat_map(|c| formats.iter().map(move |f| (c, *f)))
    {
        let mut evil = Crafted::in_format("coalescent/kingman/versions/1.2.1", "lab/evil", format);
        edit(&mut evil);
        let (graph_file, dag_file) = evil.names();
        evil.list(&reg);
        let err = user.fails(&["install", "lab/evil", "--registry", &reg.index_url()]);
        assert!(
            err.contains(&format!("{dag_file} does not belong to {graph_file}")),
            "{case} (format {format}): {err}"
        );
        assert_eq!(std::fs::read(&dag).unwrap(), before, "{case}");
        assert_eq!(user.installed().len(), 1, "{case}");
        verify_clean(&user);
        survived(&format!(
            "a signed bundle whose DAG is not its graph's ({case})"
        ));
    }
}

/// The fields of `dag.bin` and `graph.bin` ([`ptd::layout::field_offsets`]).
const DAG_FIELDS: &str = "uubiifiiiiiifiiiiiii";
const GRAPH_FIELDS: &str = "uuuiiffif";

/// Where field `k` of a layout starts: its `u64`, or its array's count.
fn field_at(bytes: &[u8], fields: &str, k: usize) -> usize {
    let (at, _) = ptd::layout::field_offsets(bytes, fields).unwrap()[k];
    match fields.as_bytes()[k] {
        b'u' => at,
        b'i' => at - 16,
        _ => at - 8,
    }
}

/// An edit of field `k` of a binary file: `f` gets the field's bytes (a `u64`'s, or an array's
/// elements after its count).
fn bin_edit(file: &'static str, fields: &'static str, k: usize, f: fn(&mut [u8])) -> Edit {
    Box::new(move |c: &mut Crafted| {
        let b = c.file(file);
        let (at, _) = ptd::layout::field_offsets(b, fields).unwrap()[k];
        f(&mut b[at..]);
    })
}

/// An edit setting the element count of array field `k` to `n`.
fn bin_count(file: &'static str, fields: &'static str, k: usize, n: u64) -> Edit {
    Box::new(move |c: &mut Crafted| {
        let b = c.file(file);
        let at = field_at(b, fields, k);
        b[at..at + 8].copy_from_slice(&n.to_le_bytes());
    })
}

/// Doubles the first non-zero coefficient in a graph file's edge arrays.
fn double_first_coefficient(g: &mut serde_json::Value) {
    let key = if g["param_edges"].as_array().is_some_and(|a| !a.is_empty()) {
        "param_edges"
    } else {
        "edges"
    };
    let edges = g[key].as_array_mut().unwrap();
    for e in edges {
        let row = e.as_array_mut().unwrap();
        // [from, to, coefficient...]
        for c in row.iter_mut().skip(2) {
            let x = c.as_f64().unwrap();
            if x != 0.0 {
                *c = serde_json::json!(x * 2.0);
                return;
            }
        }
    }
    panic!("no coefficient");
}

#[test]
fn a_tier1_entry_is_never_replaced_and_repair_settles() {
    let reg = HttpRegistry::new();
    reg.publish(&models().join("coalescent/kingman"));
    let user = User::new();
    let kingman = ptd::input::Input::open(&models().join("coalescent/kingman")).unwrap();
    let hash = ptd::hash::GraphHashes::of(kingman.graph().unwrap()).phasic;
    let sym = user.phasic_cache().join("symbolic");
    std::fs::create_dir_all(&sym).unwrap();
    let target = sym.join(format!("{hash}.dag"));
    std::fs::write(&target, b"{\"something\": \"else\"}").unwrap();
    let out = user.ok(&[
        "install",
        "coalescent/kingman",
        "--registry",
        &reg.index_url(),
        "--json",
    ]);
    let item = &json(&out)["installed"][0];
    assert!(
        item["tier1_note"]
            .as_str()
            .unwrap()
            .contains("left in place"),
        "{item}"
    );
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"{\"something\": \"else\"}"
    );
    let v = verify_json(&user);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v}");
    assert_eq!(problems[0]["path"], target.display().to_string());
    // Repair replaces it with the version's own DAG, and a second repair has nothing to do.
    let out = user.ok(&["cache", "verify", "--repair", "--json"]);
    assert_eq!(json(&out)["problems"].as_array().unwrap().len(), 0);
    verify_clean(&user);
    let out = user.ok(&["cache", "verify", "--repair", "--json"]);
    assert_eq!(json(&out)["repaired"].as_array().unwrap().len(), 0);
    let bundle_dag = std::path::Path::new(
        json(&user.ok(&["cache", "path", "coalescent/kingman", "--json"]))[0]["bundle"]
            .as_str()
            .unwrap(),
    )
    .join("dag.bin");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(bundle_dag).unwrap()
    );
    survived("a tier-1 entry holding other bytes");
}

#[test]
fn bundles_carry_no_code_and_a_bundles_module_never_runs() {
    // What ptd builds holds data only.
    let honest = Crafted::of("coalescent/kingman/versions/1.2.1", "lab/honest");
    let names: Vec<&str> = honest.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["meta.json", "graph.bin", "dag.bin"]);
    // A bundle in an older format, whose generated module a hostile publisher replaced.
    let reg = HttpRegistry::new();
    let user = User::new();
    let marker = user.dir.path().join("executed");
    let mut old = Crafted::in_format(
        "coalescent/kingman/versions/1.2.1",
        "lab/old",
        bundle::JSON_FORMAT_VERSION,
    );
    old.manifest.format_version = 2;
    let hostile = format!(
        "open({:?}, 'w').write('bundle code ran')\nraise SystemExit(0)\n",
        marker.display().to_string()
    );
    old.files
        .push(("evaluator.py".into(), hostile.into_bytes()));
    old.list(&reg);
    let out = user.ok(&[
        "install",
        "lab/old",
        "--registry",
        &reg.index_url(),
        "--json",
    ]);
    let item = &json(&out)["installed"][0];
    assert_eq!(item["name"], "lab/old");
    let which = user.ok(&["which", "lab/old"]);
    let module = String::from_utf8_lossy(&which.stdout).trim().to_string();
    assert_eq!(
        std::fs::read_to_string(&module).unwrap(),
        ptd::jax::emit::MODULE,
        "the module beside the bundle is ptd's"
    );
    // Compiling the installed evaluator runs ptd's module with the bundle's DAG as data.
    let python = support::python::python();
    let out = user.run_env(
        &[
            "cache",
            "prewarm",
            "lab/old",
            "--batch",
            "2",
            "--moments",
            "1",
        ],
        &[("PTD_PYTHON", python.to_str().unwrap())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!marker.exists(), "the bundle's module was run");
    // A module put beside the bundle by anyone else is refused, not run.
    std::fs::write(&module, "raise SystemExit(0)\n").unwrap();
    let err = user.fails(&["cache", "prewarm", "lab/old", "--batch", "2"]);
    assert!(err.contains("not this ptd's evaluator module"), "{err}");
    let v = verify_json(&user);
    assert_eq!(v["problems"].as_array().unwrap().len(), 1, "{v}");
    // Repair removes it; the next use derives ptd's own again.
    user.ok(&["cache", "verify", "--repair"]);
    assert!(!std::path::Path::new(&module).exists());
    verify_clean(&user);
    let which = user.ok(&["which", "lab/old"]);
    assert_eq!(String::from_utf8_lossy(&which.stdout).trim(), module);
    assert_eq!(
        std::fs::read_to_string(&module).unwrap(),
        ptd::jax::emit::MODULE
    );
    verify_clean(&user);
    survived("a signed bundle carrying a hostile evaluator module");
}

#[test]
fn content_is_validated_before_anything_is_placed() {
    let reg = HttpRegistry::new();
    let user = User::new();
    reg.publish(&models().join("reliability/erlang"));
    user.ok(&[
        "install",
        "reliability/erlang",
        "--registry",
        &reg.index_url(),
    ]);
    let before = user.cached_files();
    fn dag_edit(f: fn(&str) -> String) -> Edit {
        Box::new(move |c: &mut Crafted| {
            let text = String::from_utf8(c.file("dag.json").clone()).unwrap();
            *c.file("dag.json") = f(&text).into_bytes();
        })
    }
    // The JSON files of format version 3, which ptd still installs.
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "a constant of 1e400",
            dag_edit(|t| t.replacen("\"nodes\": [[0,", "\"nodes\": [[0,1e400],[0,", 1)),
            "dag.json",
        ),
        (
            "NaN",
            dag_edit(|t| t.replacen("\"nodes\": [[0,", "\"nodes\": [[0,NaN],[0,", 1)),
            "dag.json",
        ),
        (
            "200,000-deep nesting",
            dag_edit(|t| {
                t.replacen(
                    "\"nodes\": [",
                    &format!(
                        "\"nodes\": [{}{},",
                        "[".repeat(200_000),
                        "]".repeat(200_000)
                    ),
                    1,
                )
            }),
            "dag.json",
        ),
        (
            "an operand out of range",
            dag_edit(|t| t.replacen("\"pivots\": [", "\"pivots\": [999999,", 1)),
            "dag.json",
        ),
        (
            "a graph claiming 4 billion vertices",
            Box::new(|c: &mut Crafted| {
                let mut g: serde_json::Value =
                    serde_json::from_slice(c.file("graph.json")).unwrap();
                g["n_vertices"] = serde_json::json!(4_000_000_000u64);
                *c.file("graph.json") = serde_json::to_vec(&g).unwrap();
            }),
            "graph.json",
        ),
    ];
    let json = bundle::JSON_FORMAT_VERSION;
    // The binary layouts of the format this ptd builds: fields found by walking the layout.
    let binary: Vec<(&str, Edit, &str)> = vec![
        (
            "a NaN constant",
            bin_edit("dag.bin", DAG_FIELDS, 5, |b| {
                b[..8].copy_from_slice(&f64::NAN.to_le_bytes())
            }),
            "dag.bin: nodes[",
        ),
        (
            "a pivot out of range",
            bin_edit("dag.bin", DAG_FIELDS, 16, |b| b[0] = 0xff),
            "dag.bin: pivots[0]: ",
        ),
        (
            "an array claiming 2^60 elements",
            bin_count("dag.bin", DAG_FIELDS, 6, 1 << 60),
            "dag.bin: args: claims 1152921504606846976 elements",
        ),
        (
            "a graph claiming 4 billion vertices",
            bin_edit("graph.bin", GRAPH_FIELDS, 2, |b| {
                b[..8].copy_from_slice(&4_000_000_000u64.to_le_bytes())
            }),
            "graph.bin: states: has",
        ),
        (
            "a truncated DAG",
            Box::new(|c: &mut Crafted| {
                let d = c.file("dag.bin");
                d.truncate(d.len() - 12);
            }),
            "dag.bin: row_nodes:",
        ),
    ];
    let cases = cases
        .into_iter()
        .map(|c| (c, json))
        .chain(binary.into_iter().map(|c| (c, bundle::FORMAT_VERSION)));
    for ((case, edit, file), format) in cases {
        let mut evil = Crafted::in_format("reliability/erlang", "lab/evil", format);
        edit(&mut evil);
        evil.list(&reg);
        let err = user.fails(&["install", "lab/evil", "--registry", &reg.index_url()]);
        assert!(err.contains(file), "{case}: {err}");
        assert_eq!(user.cached_files(), before, "{case}");
        survived(&format!("a signed bundle with invalid content ({case})"));
    }
    // Data outside the archive's files: zero padding after the tar, and a skippable frame.
    let (honest, m) = Crafted::of("reliability/erlang", "lab/evil").pack();
    let tar = zstd::decode_all(honest.as_slice()).unwrap();
    let mut padded = tar.clone();
    padded.extend(std::iter::repeat_n(0u8, 16 << 20));
    let mut skippable = honest.clone();
    skippable.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
    skippable.extend_from_slice(&(1u32 << 20).to_le_bytes());
    skippable.extend(std::iter::repeat_n(0u8, 1 << 20));
    for (case, bytes, words) in [
        (
            "16 MiB of zeros after the tar",
            zstd::encode_all(padded.as_slice(), 3).unwrap(),
            "after the archive's last entry",
        ),
        ("a skippable zstd frame", skippable, "after its zstd frame"),
    ] {
        list_as(&reg, &bytes, &m);
        let err = user.fails(&["install", "lab/evil", "--registry", &reg.index_url()]);
        assert!(err.contains(words), "{case}: {err}");
        assert_eq!(user.cached_files(), before, "{case}");
        survived(&format!(
            "a signed bundle with data outside its files ({case})"
        ));
    }
    // The honest bundle still installs.
    Crafted::of("reliability/erlang", "lab/evil").list(&reg);
    user.ok(&["install", "lab/evil", "--registry", &reg.index_url()]);
    verify_clean(&user);
}

#[test]
fn unused_manifest_entries_are_not_accepted() {
    // A manifest listing a file the archive does not hold, for a format that has no such file.
    let mut c = Crafted::of("reliability/erlang", "lab/x");
    c.files
        .push(("evaluator.py".into(), b"print(1)\n".to_vec()));
    let (bytes, _) = c.pack();
    let err = bundle::verify(&bytes, "x.ptd.tar.zst")
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds and lists exactly"), "{err}");
}

#[test]
fn a_file_that_differs_from_its_manifest_entry_is_refused() {
    // The manifest is right for the honest files; then one byte of each data file changes (the
    // size stays), or the manifest names another digest: the digests taken while the archive
    // is decompressed must catch each.
    let honest = Crafted::of("reliability/erlang", "lab/x");
    let (bytes, _) = honest.pack();
    bundle::verify(&bytes, "x.ptd.tar.zst").unwrap();
    for k in 0..3 {
        let mut c = Crafted::of("reliability/erlang", "lab/x");
        let listed = bundle::list_files(&c.files);
        let name = c.files[k].0.clone();
        let data = c.file(&name);
        let last = data.len() - 1;
        data[last] ^= 1;
        let mut m = c.manifest.clone();
        m.files = listed;
        m.content_hash = bundle::content_hash(&m.files).unwrap();
        let mut mj = serde_json::to_vec_pretty(&m).unwrap();
        mj.push(b'\n');
        let bytes = bundle::pack_entries(
            std::iter::once(("manifest.json", mj.as_slice()))
                .chain(c.files.iter().map(|(n, b)| (n.as_str(), b.as_slice()))),
        )
        .unwrap();
        let err = bundle::verify(&bytes, "x.ptd.tar.zst")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("{name} does not match its manifest entry")),
            "{name}: {err}"
        );
    }
}
