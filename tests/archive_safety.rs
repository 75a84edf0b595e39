//! Hostile archives: each case is a crafted tar + zstd archive that every reader refuses before
//! anything is written (absolute paths, `..`, symbolic and hard links, devices, FIFOs,
//! directories, duplicate names, files over the per-file and total caps, decompression bombs).
//! The readers are the bundle reader (installs, `ptd eval`), the platform-archive reader (JAX
//! cache entries) and the export reader (`ptd cache import`). Two cases also go through a real
//! `ptd install` from a signed registry that lists the hostile archive, leaving no trace.

mod support;

use ptd::bundle;
use support::{HttpRegistry, User, models, record};

/// One raw tar entry: name bytes, type flag, data, and a size field to write (defaults to the
/// data's length), plus a link target.
struct Raw<'a> {
    name: &'a [u8],
    kind: tar::EntryType,
    data: &'a [u8],
    declared: Option<u64>,
    link: &'a [u8],
}

fn raw<'a>(name: &'a str, kind: tar::EntryType, data: &'a [u8]) -> Raw<'a> {
    Raw {
        name: name.as_bytes(),
        kind,
        data,
        declared: None,
        link: b"",
    }
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    raw(name, tar::EntryType::Regular, data)
}

/// Writes headers by hand, so names such as `../x` and `/etc/x` that the tar crate's own
/// builder refuses can be made.
fn tar_of(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_old();
        {
            let old = h.as_old_mut();
            old.name[..e.name.len()].copy_from_slice(e.name);
            old.linkname[..e.link.len()].copy_from_slice(e.link);
        }
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(e.declared.unwrap_or(e.data.len() as u64));
        h.set_entry_type(e.kind);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend([0u8; 1024]);
    out
}

fn zst(tar: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(tar, 3).unwrap()
}

/// The error each reader gives, or "accepted".
fn readers(bytes: &[u8]) -> [String; 3] {
    let show = |r: Result<(), String>| r.err().unwrap_or_else(|| "accepted".into());
    [
        show(
            bundle::verify(bytes, "b.ptd.tar.zst")
                .map(|_| ())
                .map_err(|e| e.to_string()),
        ),
        show(
            ptd::jax::archive::read(bytes, "p.jax.tar.zst")
                .map(|_| ())
                .map_err(|e| e.to_string()),
        ),
        show(
            ptd::cache::transfer::read_export(bytes, "e.tar.zst")
                .map(|_| ())
                .map_err(|e| e.to_string()),
        ),
    ]
}

/// Checks that each of the three readers refuses the archive with one of `want`; returns how
/// many did.
fn refused_by_all(entries: &[Raw], want: &[&str]) -> usize {
    let bytes = zst(&tar_of(entries));
    let mut refused = 0;
    for (reader, err) in ["bundle", "platform", "export"].iter().zip(readers(&bytes)) {
        assert!(
            want.iter().any(|w| err.contains(w)),
            "{reader} reader: expected one of {want:?}, got: {err}"
        );
        refused += 1;
    }
    refused
}

#[test]
fn absolute_paths_are_refused() {
    let n = refused_by_all(&[file("/etc/ptd-owned", b"x")], &["/etc/ptd-owned"])
        + refused_by_all(&[file("archives//etc/x", b"x")], &["archives//etc/x"]);
    record("archive", "absolute path", 6, n, 0);
}

#[test]
fn parent_directories_are_refused() {
    let n = refused_by_all(&[file("../escape", b"x")], &["'../escape'"])
        + refused_by_all(
            &[file("archives/../../escape", b"x")],
            &["'archives/../../escape'"],
        );
    record("archive", "`..` in a path", 6, n, 0);
}

#[test]
fn links_devices_fifos_and_directories_are_refused() {
    use tar::EntryType as T;
    for (kind, words) in [
        (T::Symlink, "symbolic link"),
        (T::Link, "hard link"),
        (T::Char, "character device"),
        (T::Block, "block device"),
        (T::Fifo, "FIFO"),
        (T::Directory, "directory"),
    ] {
        // Names each reader would otherwise accept in first position.
        for (reader, name) in [(0, "manifest.json"), (1, "jax.json"), (2, "export.json")] {
            let mut e = raw(name, kind, b"");
            e.link = b"/etc/passwd";
            let bytes = zst(&tar_of(&[e]));
            let err = &readers(&bytes)[reader];
            assert!(
                err.contains(words) && err.contains("refused"),
                "{words} as {name}: {err}"
            );
        }
        record("archive", words, 3, 3, 0);
    }
}

#[test]
fn duplicate_names_are_refused() {
    let bytes = zst(&tar_of(&[
        file("jax.json", b"{}"),
        file("jit_a-cache", b"1"),
        file("jit_a-cache", b"2"),
    ]));
    assert!(
        readers(&bytes)[1].contains("appears twice"),
        "{:?}",
        readers(&bytes)
    );
    let bytes = zst(&tar_of(&[
        file("export.json", b"{}"),
        file("export.json", b"{}"),
    ]));
    assert!(readers(&bytes)[2].contains("appears twice"));
    let bytes = zst(&tar_of(&[
        file("manifest.json", b"{}"),
        file("manifest.json", b"{}"),
    ]));
    let err = &readers(&bytes)[0];
    assert!(
        err.contains("unexpected entry 'manifest.json' at position 1"),
        "{err}"
    );
    record("archive", "duplicate names", 3, 3, 0);
}

#[test]
fn a_declared_size_over_the_cap_is_refused_before_reading() {
    let mut e = file("jax.json", b"{}");
    e.declared = Some(5 << 30);
    let bytes = zst(&tar_of(&[e]));
    let err = &readers(&bytes)[1];
    assert!(err.contains("5368709120 bytes, over the limit"), "{err}");
    record(
        "archive",
        "a file over the per-file cap (5 GiB declared)",
        1,
        1,
        0,
    );
}

#[test]
fn a_decompression_bomb_is_refused() {
    // 200 MiB of zeros compress to a few kilobytes: far over 1000x.
    let zeros = vec![0u8; 200 << 20];
    for (reader, name) in [(0, "manifest.json"), (1, "jax.json"), (2, "export.json")] {
        let bytes = zst(&tar_of(&[file(name, &zeros)]));
        assert!(bytes.len() < 100_000, "{}", bytes.len());
        let err = &readers(&bytes)[reader];
        assert!(err.contains("decompression bomb"), "{name}: {err}");
    }
    record(
        "archive",
        "decompression bomb (200 MiB of zeros; ratio cap 1000x)",
        3,
        3,
        0,
    );
}

#[test]
fn lowered_caps_apply_per_file_and_in_total() {
    // Through `ptd eval`, which reads a bundle: the caps come from the environment.
    let user = User::new();
    let tmp = tempfile::tempdir().unwrap();
    let path = user.ok(&[
        "build",
        models()
            .join("coalescent/kingman/versions/1.2.1")
            .to_str()
            .unwrap(),
        "-o",
        tmp.path().to_str().unwrap(),
    ]);
    let bundle = String::from_utf8_lossy(&path.stdout).trim().to_string();
    let size = |n: &str| {
        let out = user.run_env(
            &["eval", &bundle, "--theta", "1"],
            &[("PTD_ARCHIVE_MAX_FILE_BYTES", n)],
        );
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(size("100000").0, "the bundle's files are smaller");
    let (ok, err) = size("200");
    assert!(
        !ok && err.contains("over the limit of 200 bytes for one file"),
        "{err}"
    );
    let out = user.run_env(
        &["eval", &bundle, "--theta", "1"],
        &[("PTD_ARCHIVE_MAX_TOTAL_BYTES", "3000")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("expands to more than 3000 bytes"),
        "{err}"
    );
    record(
        "archive",
        "caps lowered by the environment (per file, total)",
        2,
        2,
        0,
    );
    // A variable cannot raise a cap above its default.
    let out = user.run_env(
        &["eval", &bundle, "--theta", "1"],
        &[("PTD_ARCHIVE_MAX_RATIO", "99999999")],
    );
    assert!(out.status.success());
}

/// Lists `bytes` as `lab/evil 1.0.0` in the registry, with a valid signature by the registry's
/// key: a publisher that turned hostile.
fn list_hostile(reg: &HttpRegistry, bytes: &[u8]) {
    let (c, p, k) = ("cd".repeat(32), "ab".repeat(32), "ef".repeat(32));
    reg.list_signed("lab/evil", "1.0.0", bytes, (&c, &p, &k));
}

#[test]
fn a_signed_hostile_bundle_installs_nothing() {
    for (case, entries, words) in [
        (
            "symlink",
            tar_of(&[{
                let mut e = raw("manifest.json", tar::EntryType::Symlink, b"");
                e.link = b"/home";
                e
            }]),
            "symbolic link",
        ),
        (
            "escape",
            tar_of(&[file("manifest.json", b"{}"), file("../../../escaped", b"x")]),
            "'../../../escaped'",
        ),
        (
            "bomb",
            tar_of(&[file("manifest.json", &vec![b' '; 150 << 20])]),
            "decompression bomb",
        ),
    ] {
        let reg = HttpRegistry::new();
        list_hostile(&reg, &zst(&entries));
        let user = User::new();
        let err = user.fails(&["install", "lab/evil", "--registry", &reg.index_url()]);
        assert!(err.contains(words), "{case}: {err}");
        assert!(
            user.cached_files().is_empty(),
            "{case}: {:?}",
            user.cached_files()
        );
        assert!(!user.dir.path().join("escaped").exists());
        assert!(user.installed().is_empty());
        record(
            "archive",
            &format!("a signed hostile bundle installed from a registry ({case})"),
            1,
            1,
            0,
        );
    }
}

/// JAX names its persistent-cache files after long hashes; a name over the 100 bytes a ustar
/// header holds is packed as a GNU long-name entry, read back whole, and packs the same bytes
/// every time.
#[test]
fn a_long_file_name_is_packed_and_read_back() {
    let long = format!("jit_moments-{}-cache", "0123456789abcdef".repeat(12))[..200].to_string();
    assert_eq!(long.len(), 200);
    let files = vec![
        ("jit_a-cache".to_string(), b"short".to_vec()),
        (long.clone(), b"long".to_vec()),
    ];
    let meta = || ptd::jax::archive::JaxMeta {
        format: ptd::jax::archive::FORMAT.into(),
        format_version: ptd::jax::archive::FORMAT_VERSION,
        name: "lab/m".into(),
        version: semver::Version::new(1, 0, 0),
        content_hash: "ab".repeat(32),
        tag: "linux-x86_64-cpu-jax0.10.2-jaxlib0.10.2".into(),
        jax: ptd::jax::JaxEnv {
            jax: "0.10.2".into(),
            jaxlib: "0.10.2".into(),
            backend: "cpu".into(),
            platform_version: "cpu".into(),
        },
        batches: vec![1],
        moments: 2,
        files: Vec::new(),
    };
    let bytes = ptd::jax::archive::pack(meta(), &files).unwrap();
    assert_eq!(
        ptd::jax::archive::pack(meta(), &files).unwrap(),
        bytes,
        "the same files pack to the same bytes"
    );
    let (m, got) = ptd::jax::archive::read(&bytes, "p.jax.tar.zst").unwrap();
    assert_eq!(got, files);
    assert_eq!(m.files[1].path, long);

    // The archive layer itself, with the long name in a directory too.
    let nested = format!("parameterized_reward_compute/{long}");
    let entries = [
        ("a.json", &b"{}"[..]),
        (long.as_str(), b"x"),
        (nested.as_str(), b"y"),
    ];
    let packed = ptd::archive::pack_entries(entries).unwrap();
    assert_eq!(ptd::archive::pack_entries(entries).unwrap(), packed);
    let read = ptd::archive::read_tar_zst(&packed, "a.tar.zst", |_, _| Ok(())).unwrap();
    let names: Vec<&str> = read.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a.json", long.as_str(), nested.as_str()]);
    // Read with digests: the same files, each with its SHA-256.
    let (again, digests) =
        ptd::archive::read_tar_zst_hashed(&packed, "a.tar.zst", |_, _| Ok(())).unwrap();
    assert_eq!(again, read);
    let want: Vec<String> = read.iter().map(|(_, d)| ptd::fs::sha256_hex(d)).collect();
    assert_eq!(digests, want);
    assert_eq!(
        digests[0],
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
}

/// Names that would leave the directory an archive is unpacked into are refused when packing,
/// with an error naming them, and never panic.
#[test]
fn packing_refuses_names_that_climb_out() {
    let long_escape = format!("../{}", "a".repeat(200));
    for name in [
        "../x",
        "/etc/x",
        "a//b",
        "./a",
        "a/..",
        "",
        long_escape.as_str(),
    ] {
        let err = ptd::archive::pack_entries([(name, &b"x"[..])])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&format!("{name}: ")), "{name}: {err}");
    }
}

/// A GNU long-name entry cannot smuggle a `..` path past the readers.
#[test]
fn a_long_name_entry_with_a_parent_directory_is_refused() {
    let name = format!("../{}", "a".repeat(200));
    let mut tar = Vec::new();
    let mut l = tar::Header::new_gnu();
    l.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    l.set_mode(0o644);
    l.set_size(name.len() as u64 + 1);
    l.set_entry_type(tar::EntryType::GNULongName);
    l.set_cksum();
    tar.extend_from_slice(l.as_bytes());
    let mut data = name.clone().into_bytes();
    data.push(0);
    data.resize(data.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&data);
    tar.extend(tar_of(&[file("aaaa", b"x")]));
    let bytes = zst(&tar);
    for (reader, err) in ["bundle", "platform", "export"].iter().zip(readers(&bytes)) {
        assert!(err.contains("'../aaaa"), "{reader} reader: {err}");
    }
    let err = ptd::archive::read_tar_zst(&bytes, "a.tar.zst", |_, _| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("'../aaaa") && err.contains("refused"), "{err}");
}
