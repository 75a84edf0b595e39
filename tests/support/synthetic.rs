//! Synthetic registries for resolution: signed directory indexes whose entries point at no real
//! archive (resolution never downloads).
#![allow(dead_code)]

use ptd::index::{Dependency, IndexEntry, write_index_file};
use ptd::publish::IndexDir;
use ptd::sign::{Signer, generate};
use std::path::Path;

pub fn signer() -> Signer {
    let k = generate(None).unwrap();
    Signer::from_secret_file(&k.secret_file, None, "test key").unwrap()
}

/// An index entry for `name` `version` depending on `deps` (name, requirement).
pub fn entry(name: &str, version: &str, deps: &[(&str, &str)], signer: &Signer) -> IndexEntry {
    let h = ptd::fs::sha256_hex(format!("{name}@{version}").as_bytes());
    IndexEntry {
        name: name.into(),
        version: version.parse().unwrap(),
        file: format!("{}-{version}.ptd.tar.zst", name.replace('/', "-")),
        sha256: h.clone(),
        size: 1,
        content_hash: h.clone(),
        phasic_hash: h.clone(),
        canonical_hash: h,
        parameters: vec!["theta".into()],
        deps: deps
            .iter()
            .map(|(n, r)| Dependency {
                name: (*n).into(),
                req: r.parse().unwrap(),
            })
            .collect(),
        artifacts: vec![],
        yanked: false,
        key_id: signer.key_id.clone(),
        description: String::new(),
        keywords: vec![],
        recipe: None,
        kind: Default::default(),
        metadata: None,
        variants: Default::default(),
        family: None,
        build_here: false,
    }
}

/// Creates a registry in `dir` holding `entries`; the index files are written at once and the
/// snapshot signed once.
pub fn registry(dir: &Path, entries: &[IndexEntry], signer: &Signer) {
    let index = IndexDir::new(dir);
    index.init("synthetic", vec![], signer).unwrap();
    let mut by_name: std::collections::BTreeMap<&str, Vec<IndexEntry>> = Default::default();
    for e in entries {
        by_name.entry(&e.name).or_default().push(e.clone());
    }
    for (name, es) in by_name {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, write_index_file(&es)).unwrap();
    }
    index.resign(signer).unwrap();
}
