//! Publishing model families into a directory registry: one signed bundle and index line per
//! member of a `--variants` set (the default member always among them), the signed recipe
//! archive beside them, `ptd info` and `ptd yank` over the version's lines; publishing again,
//! growing the set, a changed recipe refused; the same bytes whatever the number of workers
//! and however the members are split into CI shards (`ptd build --shard`, `ptd publish
//! --prebuilt`); and the publish workflow wired for it.

mod support;

use ptd::index::{archive_trusted_comment, recipe_trusted_comment};
use ptd::sign::{Signature, TrustedKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::{User, json};

/// A family recipe of Kingman's coalescent, `samples` a variant with `default`.
fn family_recipe(dir: &Path, default: u32, description: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("model.toml"),
        format!(
            r#"[model]
name = "test/kingman-family"
version = "1.0.0"
description = "{description}"
license = "CC0-1.0"
parameters = ["theta"]
keywords = ["coalescent"]

[generator]
name = "coalescent/kingman"

[variants]
samples = {{ default = {default}, min = 2, max = 30, description = "sampled lineages" }}
"#
        ),
    )
    .unwrap();
    dir.to_path_buf()
}

/// A publisher with a key and a directory registry (index `<root>/index`, archives
/// `<root>/store`).
struct Setup {
    user: User,
    key: PathBuf,
    public: String,
    index: PathBuf,
    store: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let user = User::new();
        let key = user.keygen(&user.dir.path().join("lab"));
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let index = user.dir.path().join("index");
        let store = user.dir.path().join("store");
        user.init_registry(
            &index,
            "lab",
            &[&format!("file://{}/{{file}}", store.display())],
            &[],
            &key,
        );
        Setup {
            user,
            key,
            public,
            index,
            store,
        }
    }

    fn publish(&self, recipe: &Path, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "publish",
            recipe.to_str().unwrap(),
            "--registry",
            self.index.to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.user.cmd(self.user.dir.path(), &args).output().unwrap()
    }

    fn publish_ok(&self, recipe: &Path, extra: &[&str]) -> serde_json::Value {
        let mut extra = extra.to_vec();
        extra.push("--json");
        let out = self.publish(recipe, &extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json(&out)
    }

    fn index_file(&self) -> PathBuf {
        self.index.join("test/kingman-family")
    }

    fn lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.index_file())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn samples(&self) -> Vec<i64> {
        self.lines()
            .iter()
            .map(|l| l["variants"]["samples"].as_i64().unwrap())
            .collect()
    }

    /// Checks a stored file's signature against the registry key, returning its trusted
    /// comment.
    fn verify(&self, file: &str) -> (Vec<u8>, String) {
        let data = std::fs::read(self.store.join(file)).unwrap();
        let sig = std::fs::read_to_string(self.store.join(format!("{file}.minisig"))).unwrap();
        let sig = Signature::parse(&sig, file).unwrap();
        let key = TrustedKey::parse(&self.public).unwrap();
        sig.verify(&data, &[key], file).unwrap();
        let comment = sig.trusted_comment().to_string();
        (data, comment)
    }
}

fn members(report: &serde_json::Value) -> Vec<(i64, String, String)> {
    report["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["variants"]["samples"].as_i64().unwrap(),
                m["status"].as_str().unwrap().to_string(),
                m["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_family_is_published_member_by_member_with_its_signed_recipe() {
    let s = Setup::new();
    let recipe = family_recipe(&s.user.dir.path().join("fam"), 4, "Kingman family");
    // The default (4) is inside the set: five members, five lines.
    let report = s.publish_ok(&recipe, &["--variants", "samples=2..6"]);
    assert_eq!(report["status"], "published");
    assert_eq!(
        members(&report),
        (2..=6)
            .map(|i| (i, "published".to_string(), "built".to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(s.samples(), vec![2, 3, 4, 5, 6]);
    let lines = s.lines();
    let family = &lines[0]["family"];
    assert_eq!(family["variants"]["samples"]["default"], 4);
    let recipe_file = family["recipe"]["file"].as_str().unwrap();
    assert_eq!(recipe_file, "test-kingman-family-1.0.0.recipe.tar.zst");
    // Every member's archive is stored, signed by the registry key for its content hash.
    for l in &lines {
        assert_eq!(&l["family"], family, "every line carries the same family");
        let file = l["file"].as_str().unwrap();
        assert_eq!(
            file,
            format!(
                "test-kingman-family-1.0.0_samples-{}.ptd.tar.zst",
                l["variants"]["samples"]
            )
        );
        let (data, comment) = s.verify(file);
        assert_eq!(ptd::fs::sha256_hex(&data), l["sha256"].as_str().unwrap());
        let version = semver::Version::new(1, 0, 0);
        assert_eq!(
            comment,
            archive_trusted_comment(
                "test/kingman-family",
                &version,
                l["content_hash"].as_str().unwrap()
            )
        );
        // The member's bundle is that member: n lineages, n - 1 transient states + start.
        let b = ptd::bundle::unpack(&data, file).unwrap();
        assert_eq!(
            b.meta.variants.to_string(),
            format!("samples={}", l["variants"]["samples"])
        );
    }
    // The recipe archive: signed with its own comment, its hash and size as the lines say,
    // and it opens as the recipe.
    let (data, comment) = s.verify(recipe_file);
    let sha = ptd::fs::sha256_hex(&data);
    assert_eq!(family["recipe"]["sha256"].as_str().unwrap(), sha);
    assert_eq!(
        family["recipe"]["size"].as_u64().unwrap(),
        data.len() as u64
    );
    assert_eq!(
        comment,
        recipe_trusted_comment("test/kingman-family", &semver::Version::new(1, 0, 0), &sha)
    );
    let opened = ptd::bundle::recipe::open_recipe(&data, recipe_file).unwrap();
    assert_eq!(opened.recipe.variants.defaults().to_string(), "samples=4");

    // ptd info: the version once, its variants, the prebuilt members as a range.
    let info = s.user.ok(&[
        "info",
        "test/kingman-family",
        "--registry",
        s.index.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("family, 5 prebuilt: samples=2..6"), "{text}");
    assert!(
        text.contains("samples: integers 2..=30, default 4 (sampled lineages)"),
        "{text}"
    );
    assert_eq!(text.matches("1.0.0").count(), 2, "{text}");
    let info = json(&s.user.ok(&[
        "info",
        "test/kingman-family",
        "--registry",
        s.index.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(info["variants"]["version"], "1.0.0");
    assert_eq!(info["variants"]["declarations"]["samples"]["max"], 30);
    let prebuilt: Vec<i64> = info["variants"]["prebuilt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["samples"].as_i64().unwrap())
        .collect();
    assert_eq!(prebuilt, vec![2, 3, 4, 5, 6]);
    // ptd search: the family once.
    let found = s
        .user
        .ok(&["search", "kingman", "--registry", s.index.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&found.stdout).lines().count(),
        1,
        "{}",
        String::from_utf8_lossy(&found.stdout)
    );

    // The same set again: nothing changes, not even the snapshot.
    let snapshot = std::fs::read(s.index.join("snapshot.json")).unwrap();
    let again = s.publish_ok(&recipe, &["--variants", "samples=2..6"]);
    assert_eq!(again["status"], "unchanged");
    assert!(
        members(&again)
            .iter()
            .all(|(_, st, src)| st == "unchanged" && src == "index")
    );
    assert_eq!(
        std::fs::read(s.index.join("snapshot.json")).unwrap(),
        snapshot
    );

    // A larger set adds only the new members' lines, in one re-signed change.
    let grown = s.publish_ok(&recipe, &["--variants", "samples=2..8"]);
    assert_eq!(grown["status"], "published");
    let new: Vec<i64> = members(&grown)
        .into_iter()
        .filter(|(_, st, _)| st == "published")
        .map(|(i, _, _)| i)
        .collect();
    assert_eq!(new, vec![7, 8]);
    assert_eq!(s.samples(), vec![2, 3, 4, 5, 6, 7, 8]);
    let version_of = |snap: &[u8]| -> u64 {
        serde_json::from_slice::<serde_json::Value>(snap).unwrap()["version"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        version_of(&std::fs::read(s.index.join("snapshot.json")).unwrap()),
        version_of(&snapshot) + 1
    );

    // The recipe changed under the same version: refused before anything is uploaded.
    let changed = family_recipe(&s.user.dir.path().join("changed"), 4, "Kingman, edited");
    let before = std::fs::read(s.index_file()).unwrap();
    let stored = support::walk(&s.store).len();
    let out = s.publish(&changed, &["--variants", "samples=9"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already published from another recipe")
            && err.contains("test-kingman-family-1.0.0.recipe.tar.zst"),
        "{err}"
    );
    assert_eq!(std::fs::read(s.index_file()).unwrap(), before);
    assert_eq!(support::walk(&s.store).len(), stored);

    // Yank takes every line of the version, and --undo gives them back.
    let spec = "test/kingman-family@1.0.0";
    let yank = |undo: bool| {
        let mut args = vec![
            "yank",
            spec,
            "--registry",
            s.index.to_str().unwrap(),
            "--key",
            s.key.to_str().unwrap(),
        ];
        if undo {
            args.push("--undo");
        }
        s.user.ok(&args);
        s.lines()
            .iter()
            .map(|l| l["yanked"].as_bool().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(yank(false), vec![true; 7]);
    assert_eq!(yank(true), vec![false; 7]);
}

#[test]
fn the_default_member_is_always_published_and_variants_need_a_family() {
    let s = Setup::new();
    // The default (10) is outside the set: it is added.
    let recipe = family_recipe(&s.user.dir.path().join("fam"), 10, "Kingman family");
    let report = s.publish_ok(&recipe, &["--variants", "samples=2,3", "--jobs", "1"]);
    assert_eq!(
        members(&report)
            .iter()
            .map(|(i, _, _)| *i)
            .collect::<Vec<_>>(),
        vec![2, 3, 10]
    );
    assert_eq!(s.samples(), vec![2, 3, 10]);

    // Without --variants a family publishes its default member, with the family.
    let t = Setup::new();
    let report = t.publish_ok(&recipe, &[]);
    assert_eq!(members(&report)[0].0, 10);
    assert_eq!(t.samples(), vec![10]);
    assert!(t.lines()[0]["family"]["recipe"]["file"].is_string());
    // Text: one line per member and a summary.
    let out = t.publish(&recipe, &["--variants", "samples=2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("Published test/kingman-family 1.0.0 samples=2 (test-kingman-family-1.0.0_samples-2.ptd.tar.zst, built"),
        "{err}"
    );
    assert!(
        err.contains("2 members (samples=2,10), 1 new (1 built, 0 prebuilt), 1 unchanged"),
        "{err}"
    );

    // --variants on a recipe without [variants], or on a graph file, is refused.
    let single = support::models().join("reliability/erlang");
    let out = s.publish(&single, &["--variants", "samples=2..4"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("declares no [variants]"), "{err}");
    let graph = s.user.dir.path().join("g.json");
    std::fs::write(&graph, "{}").unwrap();
    let out = s.publish(&graph, &["--variants", "samples=2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a model directory"), "{err}");
    // A value outside the declaration names the variant and what it allows.
    let out = s.publish(&recipe, &["--variants", "samples=1..3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("integers 2..=30"),
        "{err}"
    );
}

/// Index lines and archives of a publish, by file (signatures are randomised, so left out).
fn published_bytes(s: &Setup) -> (Vec<u8>, BTreeMap<String, Vec<u8>>) {
    let archives = support::walk(&s.store)
        .into_iter()
        .filter(|p| p.extension().is_none_or(|e| e != "minisig"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    (std::fs::read(s.index_file()).unwrap(), archives)
}

#[test]
fn one_or_two_workers_publish_the_same_bytes() {
    let one = Setup::new();
    let two = Setup::new();
    // Both registries signed with the same key: the lines name it.
    let recipe = family_recipe(&one.user.dir.path().join("fam"), 4, "Kingman family");
    let key = one.key.clone();
    let two = Setup {
        key: key.clone(),
        public: one.public.clone(),
        ..{
            let t = two;
            let index = t.user.dir.path().join("index2");
            t.user.init_registry(
                &index,
                "lab",
                &[&format!("file://{}/{{file}}", t.store.display())],
                &[],
                &key,
            );
            Setup { index, ..t }
        }
    };
    let a = one.publish_ok(&recipe, &["--variants", "samples=2..9", "--jobs", "1"]);
    let b = two.publish_ok(&recipe, &["--variants", "samples=2..9", "--jobs", "2"]);
    assert_eq!(a["members"], b["members"]);
    let (lines_a, files_a) = published_bytes(&one);
    let (lines_b, files_b) = published_bytes(&two);
    assert_eq!(files_a.len(), 9, "8 members and the recipe archive");
    assert_eq!(lines_a, lines_b);
    assert_eq!(files_a, files_b);
}

fn bundles_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    support::walk(dir)
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn shards_build_the_set_between_them_and_publish_from_prebuilt_bundles() {
    let s = Setup::new();
    let recipe = family_recipe(&s.user.dir.path().join("fam"), 4, "Kingman family");
    let root = s.user.dir.path();
    let build = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "build",
            recipe.to_str().unwrap(),
            "--variants",
            "samples=2..8",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        s.user.ok(&args)
    };
    let whole = root.join("whole");
    build(&whole, &["--jobs", "2"]);
    let all = bundles_in(&whole);
    assert_eq!(all.len(), 7);
    let mut union = BTreeMap::new();
    for i in 1..=3 {
        let dir = root.join(format!("shard-{i}"));
        let out = build(&dir, &["--shard", &format!("{i}/3"), "--jobs", "1"]);
        let mine = bundles_in(&dir);
        // Positions p with p % 3 == i - 1 of samples 2..8.
        let want: Vec<String> = (2..=8)
            .enumerate()
            .filter(|(p, _)| p % 3 == i - 1)
            .map(|(_, n)| format!("test-kingman-family-1.0.0_samples-{n}.ptd.tar.zst"))
            .collect();
        assert_eq!(mine.keys().cloned().collect::<Vec<_>>(), {
            let mut w = want.clone();
            w.sort();
            w
        });
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            want.len()
        );
        for (k, v) in mine {
            assert!(union.insert(k, v).is_none(), "a member in two shards");
        }
    }
    assert_eq!(
        union, all,
        "the shards' union is the unsharded build, byte for byte"
    );

    // Publishing from the shards' bundles (one missing: built here) gives the lines a build
    // here gives.
    let prebuilt = root.join("prebuilt");
    std::fs::create_dir_all(&prebuilt).unwrap();
    for (k, v) in &union {
        if !k.contains("samples-5.") {
            std::fs::write(prebuilt.join(k), v).unwrap();
        }
    }
    let report = s.publish_ok(
        &recipe,
        &[
            "--variants",
            "samples=2..8",
            "--prebuilt",
            prebuilt.to_str().unwrap(),
        ],
    );
    let sources: Vec<(i64, String)> = members(&report)
        .into_iter()
        .map(|(i, _, src)| (i, src))
        .collect();
    assert_eq!(
        sources,
        (2..=8)
            .map(|i| (i, if i == 5 { "built" } else { "prebuilt" }.to_string()))
            .collect::<Vec<_>>()
    );
    let direct = Setup::new();
    direct.publish_ok(&recipe, &["--variants", "samples=2..8"]);
    let strip_key = |b: Vec<u8>, s: &Setup| {
        String::from_utf8(b)
            .unwrap()
            .replace(&support::key_id(&s.key.with_extension("pub")), "KEY")
    };
    assert_eq!(
        strip_key(std::fs::read(s.index_file()).unwrap(), &s),
        strip_key(std::fs::read(direct.index_file()).unwrap(), &direct)
    );

    // A prebuilt bundle of another recipe (or a damaged one) is refused, naming the file.
    let t = Setup::new();
    let other = family_recipe(&root.join("other"), 4, "Kingman, edited");
    let odd = root.join("odd");
    let out = s.user.ok(&[
        "build",
        other.to_str().unwrap(),
        "--variants",
        "samples=3",
        "--out",
        odd.to_str().unwrap(),
    ]);
    assert!(!out.stdout.is_empty());
    let out = t.publish(
        &recipe,
        &[
            "--variants",
            "samples=3",
            "--prebuilt",
            odd.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("test-kingman-family-1.0.0_samples-3.ptd.tar.zst")
            && err.contains("built from another recipe"),
        "{err}"
    );
    let damaged = odd.join("test-kingman-family-1.0.0_samples-3.ptd.tar.zst");
    let mut bytes = union["test-kingman-family-1.0.0_samples-3.ptd.tar.zst"].clone();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    let out = t.publish(
        &recipe,
        &[
            "--variants",
            "samples=3",
            "--prebuilt",
            odd.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(!t.index_file().exists());
}

/// The jobs of the publish workflow, by name, each as its lines (a job runs from its
/// `  name:` line under `jobs:` to the next).
fn workflow_jobs(text: &str) -> BTreeMap<String, String> {
    let mut jobs = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_jobs = false;
    for line in text.lines() {
        if line == "jobs:" {
            in_jobs = true;
            continue;
        }
        if !in_jobs {
            continue;
        }
        if let Some(name) = line
            .strip_prefix("  ")
            .filter(|l| !l.starts_with(' ') && l.ends_with(':'))
        {
            current = Some(name.trim_end_matches(':').to_string());
            jobs.insert(current.clone().unwrap(), String::new());
        } else if let Some(c) = &current {
            let body = jobs.get_mut(c).unwrap();
            body.push_str(line);
            body.push('\n');
        }
    }
    jobs
}

#[test]
fn the_publish_workflow_builds_members_in_shards_and_publishes_them_prebuilt() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/publish.yml"),
    )
    .unwrap();
    let jobs = workflow_jobs(&text);
    let build = &jobs["build-members"];
    let publish = &jobs["publish"];
    // A matrix of shards, each one share of the members, uploaded as an artifact.
    let shards: Vec<&str> = build
        .lines()
        .find_map(|l| l.trim().strip_prefix("shard: ["))
        .expect("a shard matrix")
        .trim_end_matches(']')
        .split(',')
        .map(str::trim)
        .collect();
    let n = shards.len();
    assert_eq!(
        shards,
        (1..=n).map(|i| i.to_string()).collect::<Vec<_>>(),
        "shards 1..N"
    );
    assert!(
        build.contains(&format!("--shard ${{{{ matrix.shard }}}}/{n}")),
        "{build}"
    );
    assert!(
        build.contains("ptd build") && build.contains("--variants"),
        "{build}"
    );
    assert!(
        build.contains("actions/upload-artifact") && build.contains("members-${{ matrix.shard }}")
    );
    // The publish job waits for the shards, gathers them and publishes --prebuilt.
    let needs = publish
        .lines()
        .find_map(|l| l.trim().strip_prefix("needs:"))
        .unwrap();
    assert!(needs.contains("build-members"), "{needs}");
    assert!(
        publish.contains("actions/download-artifact") && publish.contains("pattern: members-*")
    );
    assert!(publish.contains("merge-multiple: true"));
    assert!(
        publish.contains("ptd publish") && publish.contains("--prebuilt prebuilt"),
        "{publish}"
    );
    // Both jobs read the same set of members.
    assert!(build.contains("# ptd-variants:") && publish.contains("# ptd-variants:"));
}

#[test]
fn a_family_published_from_ci_is_proposed_in_one_pull_request() {
    const TOKEN: &str = "ghp_familytoken";
    let gh = support::github::GitHub::start("lab", "index", TOKEN);
    let s = Setup::new();
    let files: Vec<(String, Vec<u8>)> = support::walk(&s.index)
        .into_iter()
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            let rel = p.strip_prefix(&s.index).unwrap().display().to_string();
            (format!("registry-index/{rel}"), std::fs::read(&p).unwrap())
        })
        .collect();
    gh.seed("main", &files);
    let main_before = gh.branch("main").unwrap();
    let recipe = family_recipe(&s.user.dir.path().join("fam"), 4, "Kingman family");
    let api = gh.api_url();
    let out = s.user.run_env(
        &[
            "publish",
            recipe.to_str().unwrap(),
            "--index-repo",
            "lab/index",
            "--key",
            s.key.to_str().unwrap(),
            "--variants",
            "samples=3..5",
            "--json",
        ],
        &[("GITHUB_TOKEN", TOKEN), ("GITHUB_API_URL", &api)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["status"], "published");
    assert_eq!(r["pull_request"]["number"], 1);
    let pulls = gh.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].2, "ptd-publish/test-kingman-family-v1.0.0");
    assert!(pulls[0].1.contains("(3 members)"), "{}", pulls[0].1);
    for m in r["members"].as_array().unwrap() {
        assert!(
            pulls[0].4.contains(m["content_hash"].as_str().unwrap()),
            "{}",
            pulls[0].4
        );
    }
    // main is untouched; the branch holds the three lines, the archives are in the store.
    assert_eq!(gh.branch("main").unwrap(), main_before);
    let branch = gh.branch("ptd-publish/test-kingman-family-v1.0.0").unwrap();
    let lines = String::from_utf8(branch["registry-index/test/kingman-family"].clone()).unwrap();
    assert_eq!(lines.lines().count(), 3);
    assert!(
        s.store
            .join("test-kingman-family-1.0.0.recipe.tar.zst.minisig")
            .is_file()
    );
}

/// E[T_MRCA] of Kingman's coalescent for n lineages and pairwise rate theta: 2 (1 - 1/n) / theta.
fn kingman_mean(n: u32, theta: f64) -> f64 {
    2.0 * (1.0 - 1.0 / f64::from(n)) / theta
}

#[test]
fn a_member_not_prebuilt_is_built_from_the_signed_recipe_archive_and_a_forged_one_is_refused() {
    let s = Setup::new();
    let recipe = family_recipe(&s.user.dir.path().join("family"), 4, "Kingman, any size");
    s.publish_ok(&recipe, &["--variants", "samples=2..5"]);
    let registry = s.index.to_str().unwrap();
    let user = User::new();
    // A prebuilt member is downloaded.
    let out = user.ok(&[
        "install",
        "--registry",
        registry,
        "test/kingman-family@1",
        "samples=5",
        "--json",
    ]);
    let item = &json(&out)["installed"][0];
    assert_eq!(item["action"], "downloaded", "{item}");
    // Another is built from the recipe archive, fetched and verified like an archive.
    let out = user.ok(&[
        "install",
        "--registry",
        registry,
        "test/kingman-family@1",
        "samples=23",
        "--json",
    ]);
    let item = &json(&out)["installed"][0];
    assert_eq!(item["action"], "built", "{item}");
    assert_eq!(item["variants"]["samples"], 23);
    assert!(
        item["origin"].as_str().unwrap().contains(
            "built locally from the signed recipe test-kingman-family-1.0.0.recipe.tar.zst"
        ),
        "{item}"
    );
    let m = user.installed_moments(item, "0.5");
    assert!((m[0] - kingman_mean(23, 0.5)).abs() < 1e-12 * m[0], "{m:?}");
    // The member built here is the member the publisher would have built: same bytes.
    let publisher_built = s.publish_ok(&recipe, &["--variants", "samples=23", "--dry-run"]);
    let members = publisher_built["members"].as_array().unwrap();
    let same = members
        .iter()
        .find(|m| m["variants"]["samples"] == 23)
        .unwrap();
    assert_eq!(same["content_hash"], item["content_hash"]);
    assert_eq!(same["sha256"], item["archive_sha256"]);

    // A recipe archive that is not the signed one is refused before anything is read from it,
    // and nothing is installed.
    let archive = s.store.join("test-kingman-family-1.0.0.recipe.tar.zst");
    let original = std::fs::read(&archive).unwrap();
    let forged = String::from_utf8_lossy(
        &ptd::archive::read_tar_zst(&original, "r", |_, _| Ok(())).unwrap()[0].1,
    )
    .replace("max = 30", "max = 31");
    let repacked = ptd::bundle::pack_entries([("model.toml", forged.as_bytes())]).unwrap();
    std::fs::write(&archive, &repacked).unwrap();
    let other = User::new();
    let err = other.fails(&[
        "install",
        "--registry",
        registry,
        "test/kingman-family@1",
        "samples=24",
    ]);
    assert!(
        err.contains("test-kingman-family-1.0.0.recipe.tar.zst")
            && (err.contains("SHA-256") || err.contains("bytes received"))
            && err.contains("nothing was installed"),
        "{err}"
    );
    assert!(other.installed().is_empty());
    // The right bytes under a signature for other bytes are refused too.
    std::fs::write(&archive, &original).unwrap();
    let sig = s
        .store
        .join("test-kingman-family-1.0.0.recipe.tar.zst.minisig");
    let bundle_sig = s
        .store
        .join("test-kingman-family-1.0.0_samples-5.ptd.tar.zst.minisig");
    std::fs::copy(&bundle_sig, &sig).unwrap();
    let err = other.fails(&[
        "install",
        "--registry",
        registry,
        "test/kingman-family@1",
        "samples=24",
    ]);
    assert!(err.contains("signature"), "{err}");
    assert!(other.installed().is_empty());
}
