//! Requirement syntax and resolution against a signed directory registry: cargo's meaning of
//! requirements, yanked and pre-release versions, locked preferences, dependencies and
//! conflicts explained in words.

#[path = "support/synthetic.rs"]
mod synthetic;

use ptd::index::IndexSource;
use ptd::index::registry::{KeyTrust, Registry};
use ptd::resolve::{Requirement, resolve};
use std::collections::BTreeMap;
use synthetic::{entry, registry, signer};

struct Fixture {
    _dir: tempfile::TempDir,
    reg: Registry,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new(entries: impl Fn(&ptd::sign::Signer) -> Vec<ptd::index::IndexEntry>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let s = signer();
        registry(&dir.path().join("index"), &entries(&s), &s);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let reg = rt
            .block_on(Registry::open(
                IndexSource::dir(dir.path().join("index")),
                KeyTrust::FirstUse,
                &dir.path().join("state"),
                std::time::SystemTime::now(),
            ))
            .unwrap();
        Fixture { _dir: dir, reg, rt }
    }

    fn resolve(
        &self,
        roots: &[&str],
        locked: &[(&str, &str)],
    ) -> Result<BTreeMap<String, String>, String> {
        let roots: Vec<Requirement> = roots
            .iter()
            .map(|r| Requirement::parse(r).unwrap())
            .collect();
        let locked = locked
            .iter()
            .map(|(n, v)| (n.to_string(), v.parse().unwrap()))
            .collect();
        self.rt
            .block_on(resolve(&self.reg, &roots, &locked))
            .map(|m| {
                m.into_iter()
                    .map(|(k, e)| (k, e.version.to_string()))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    fn pick(&self, root: &str) -> String {
        let name = root.split('@').next().unwrap();
        self.resolve(&[root], &[]).unwrap()[name].clone()
    }
}

fn versions() -> Fixture {
    Fixture::new(|s| {
        let mut v: Vec<_> = [
            "0.9.0",
            "1.0.0",
            "1.1.0",
            "1.2.0",
            "1.2.3",
            "1.2.7",
            "1.3.0",
            "1.10.0",
            "2.0.0",
            "2.1.0",
            "3.0.0-beta.1",
        ]
        .iter()
        .map(|v| entry("a/m", v, &[], s))
        .collect();
        let mut y = entry("a/m", "2.2.0", &[], s);
        y.yanked = true;
        v.push(y);
        v
    })
}

#[test]
fn requirements_mean_what_they_mean_in_cargo() {
    let f = versions();
    assert_eq!(f.pick("a/m@1.2"), "1.10.0", "@1.2 is ^1.2");
    assert_eq!(f.pick("a/m@=1.2.3"), "1.2.3");
    assert_eq!(f.pick("a/m@~1.2"), "1.2.7");
    assert_eq!(f.pick("a/m@>=1, <2"), "1.10.0");
    assert_eq!(f.pick("a/m@*"), "2.1.0", "neither yanked nor pre-release");
    assert_eq!(f.pick("a/m"), "2.1.0");
    assert_eq!(f.pick("a/m@0.9"), "0.9.0", "^0.9 stays below 0.10");
    assert_eq!(f.pick("a/m@<1.2"), "1.1.0");
}

#[test]
fn pre_releases_only_when_asked_and_yanked_only_when_locked() {
    let f = versions();
    assert_eq!(f.pick("a/m@>=2"), "2.1.0");
    assert_eq!(f.pick("a/m@=3.0.0-beta.1"), "3.0.0-beta.1");
    assert_eq!(f.pick("a/m@>=3.0.0-alpha"), "3.0.0-beta.1");
    let err = f.resolve(&["a/m@=2.2.0"], &[]).unwrap_err();
    assert!(err.contains("2.2.0") && err.contains("yanked"), "{err}");
    // Locked, a yanked version stays.
    assert_eq!(
        f.resolve(&["a/m@2"], &[("a/m", "2.2.0")]).unwrap()["a/m"],
        "2.2.0"
    );
    // A locked version that still matches is kept even when newer ones exist ...
    assert_eq!(
        f.resolve(&["a/m@1"], &[("a/m", "1.2.3")]).unwrap()["a/m"],
        "1.2.3"
    );
    // ... and replaced when the requirement moved past it.
    assert_eq!(
        f.resolve(&["a/m@2"], &[("a/m", "1.2.3")]).unwrap()["a/m"],
        "2.1.0"
    );
    let err = f.resolve(&["a/m@4"], &[]).unwrap_err();
    assert!(err.contains("no version of a/m matches ^4"), "{err}");
}

#[test]
fn dependencies_are_solved_and_conflicts_explained() {
    let f = Fixture::new(|s| {
        vec![
            entry("lab/app", "1.0.0", &[("lab/lib", "^1")], s),
            entry(
                "lab/app",
                "2.0.0",
                &[("lab/lib", "^2"), ("lab/util", "~0.3")],
                s,
            ),
            entry("lab/lib", "1.0.0", &[], s),
            entry("lab/lib", "1.4.0", &[], s),
            entry("lab/lib", "2.0.0", &[("lab/util", ">=0.3.1")], s),
            entry("lab/util", "0.3.0", &[], s),
            entry("lab/util", "0.3.2", &[], s),
            entry("lab/util", "0.4.0", &[], s),
        ]
    });
    let r = f.resolve(&["lab/app"], &[]).unwrap();
    assert_eq!(r["lab/app"], "2.0.0");
    assert_eq!(r["lab/lib"], "2.0.0");
    assert_eq!(r["lab/util"], "0.3.2", "~0.3 and >=0.3.1 together");
    // Asking for lib 1 forces app back to 1.0.0.
    let r = f.resolve(&["lab/app", "lab/lib@1"], &[]).unwrap();
    assert_eq!(
        (r["lab/app"].as_str(), r["lab/lib"].as_str()),
        ("1.0.0", "1.4.0")
    );
    assert!(!r.contains_key("lab/util"));
    // app 2 with lib 1 cannot work: the explanation names both and the versions involved.
    let err = f.resolve(&["lab/app@2", "lab/lib@1"], &[]).unwrap_err();
    assert!(err.contains("cannot all be met"), "{err}");
    assert!(
        err.contains("depends on lab/lib ^2") && err.contains("you require lab/lib ^1"),
        "{err}"
    );
    // A dependency on a model the registry lacks is named.
    let g = Fixture::new(|s| vec![entry("lab/app", "1.0.0", &[("lab/gone", "^1")], s)]);
    let err = g.resolve(&["lab/app"], &[]).unwrap_err();
    assert!(err.contains("lab/gone"), "{err}");
}

#[test]
fn bad_requirements_are_explained() {
    for (spec, needle) in [
        ("Kingman", "namespace/name"),
        ("a/m@1.2.x.y", "not a version requirement"),
        ("a/m@>>1", "not a version requirement"),
        ("a/m/x@1", "namespace/name"),
    ] {
        let e = Requirement::parse(spec).unwrap_err().to_string();
        assert!(e.contains(needle) && e.contains(spec), "{spec}: {e}");
    }
}

/// A family: version 1.0.0 a single model, 1.1.0 and 1.2.0 families taking `samples` (2..=50,
/// default 10; 1.2.0 up to 100), with members 10 and 20 prebuilt.
fn family() -> Fixture {
    Fixture::new(|s| {
        let decls: ptd::model::VariantDecls = toml::from_str(
            "samples = { default = 10, min = 2, max = 50 }\nmode = { default = \"a\", values = [\"a\", \"b\"] }",
        )
        .unwrap();
        let mut out = vec![entry("a/f", "1.0.0", &[], s)];
        for (v, max) in [("1.1.0", 50), ("1.2.0", 100)] {
            let mut decls = decls.clone();
            decls.0.get_mut("samples").unwrap().max = Some(ptd::model::VariantValue::Int(max));
            for n in [10, 20] {
                let mut e = entry("a/f", v, &[], s);
                let values = decls
                    .settle(
                        &ptd::model::variants::parse_words([format!("samples={n}").as_str()])
                            .unwrap(),
                    )
                    .unwrap();
                e.file = ptd::bundle::archive_name("a/f", &e.version, &values);
                let h = ptd::fs::sha256_hex(format!("{v} {values}").as_bytes());
                (e.sha256, e.content_hash) = (h.clone(), h);
                e.variants = values;
                e.family = Some(ptd::index::Family {
                    variants: decls.clone(),
                    recipe: None,
                });
                out.push(e);
            }
        }
        out
    })
}

fn member(f: &Fixture, words: &[&str]) -> Result<ptd::index::IndexEntry, String> {
    let roots = Requirement::parse_words(words).map_err(|e| e.to_string())?;
    let name = roots[0].name.clone();
    f.rt.block_on(resolve(&f.reg, &roots, &BTreeMap::new()))
        .map(|mut m| m.remove(&name).unwrap())
        .map_err(|e| e.to_string())
}

#[test]
fn a_family_member_is_a_prebuilt_line_or_one_to_build() {
    let f = family();
    // Defaults: the prebuilt default member of the newest version.
    let e = member(&f, &["a/f@1"]).unwrap();
    assert_eq!(
        (
            e.version.to_string(),
            e.variants.to_string(),
            e.needs_build()
        ),
        ("1.2.0".into(), "mode=a samples=10".into(), false)
    );
    let e = member(&f, &["a/f@1", "samples=20"]).unwrap();
    assert_eq!(e.variants.to_string(), "mode=a samples=20");
    assert!(!e.needs_build());
    assert_eq!(e.file, "a-f-1.2.0_mode-a_samples-20.ptd.tar.zst");
    // Not prebuilt: the member to build, with no hashes yet.
    let e = member(&f, &["a/f@1", "samples=37", "mode=b"]).unwrap();
    assert_eq!(e.variants.to_string(), "mode=b samples=37");
    assert!(e.needs_build() && e.sha256.is_empty() && e.content_hash.is_empty());
    assert_eq!(e.version.to_string(), "1.2.0");
    // Only versions whose family takes the values qualify: 80 is beyond 1.1.0's range.
    let e = member(&f, &["a/f@~1.1", "samples=30"]).unwrap();
    assert_eq!(e.version.to_string(), "1.1.0");
    let err = member(&f, &["a/f@~1.1", "samples=80"]).unwrap_err();
    assert!(
        err.contains("no version of a/f matches")
            && err
                .contains("1.1.0: variant 'samples': 80 is not allowed; allowed: integers 2..=50"),
        "{err}"
    );
    let err = member(&f, &["a/f@=1.0.0", "samples=10"]).unwrap_err();
    assert!(err.contains("1.0.0 takes no variants"), "{err}");
    let err = member(&f, &["a/f@1", "sample=10"]).unwrap_err();
    assert!(
        err.contains("'sample': not a variant of this model"),
        "{err}"
    );
    // Words before any model, and malformed words, are refused.
    let err = member(&f, &["samples=3", "a/f"]).unwrap_err();
    assert!(err.contains("comes after the model it applies to"), "{err}");
    // Two models on one line, each with its own settings.
    let reqs = Requirement::parse_words(&["a/f@1", "samples=3", "a/m@2", "a/g"]).unwrap();
    assert_eq!(
        reqs.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        ["a/f@^1 samples=3", "a/m@^2", "a/g@*"]
    );
}
