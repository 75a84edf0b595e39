//! Requirements and resolution, with cargo's meaning.
//!
//! `name@1.2` means `^1.2`; `=1.2.3`, `~1.2`, `>=1, <2` and `*` are semver requirements; no
//! requirement means the newest version. Yanked versions are only chosen when locked;
//! pre-releases only when a requirement names one. Dependencies between models are solved with
//! PubGrub, whose explanation of a conflict is reported in words.

use crate::index::{IndexEntry, IndexError, registry::Registry};
use crate::model::{Requested, Variants};
use pubgrub::{
    DefaultStringReporter, OfflineDependencyProvider, PubGrubError, Ranges, Reporter, VersionSet,
};
use semver::{Version, VersionReq};
use std::collections::{BTreeMap, BTreeSet};

/// `name[@req]`, and for a family the variant values asked for with it, Spack style:
/// `coalescent/block-counting@1 samples=30`.
#[derive(Clone, Debug, PartialEq)]
pub struct Requirement {
    pub name: String,
    pub req: VersionReq,
    /// Variant values as given (checked against the family's declarations when resolving);
    /// the rest take their defaults.
    pub variants: Requested,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("'{spec}': {message}")]
    BadRequirement { spec: String, message: String },
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("no version of {name} matches {req}{detail}")]
    NoMatch {
        name: String,
        req: String,
        detail: String,
    },
    #[error("the requirements cannot all be met:\n{0}")]
    Conflict(String),
}

impl Requirement {
    /// Parses `namespace/name`, `namespace/name@REQ`.
    pub fn parse(spec: &str) -> Result<Requirement, ResolveError> {
        let (name, req) = match spec.split_once('@') {
            Some((n, r)) => (n.trim(), r.trim()),
            None => (spec.trim(), "*"),
        };
        crate::model::check_name(name).map_err(|message| ResolveError::BadRequirement {
            spec: spec.into(),
            message,
        })?;
        let req = VersionReq::parse(req).map_err(|e| ResolveError::BadRequirement {
            spec: spec.into(),
            message: format!(
                "'{req}' is not a version requirement ({e}); try 1.2, =1.2.3, ~1.2, '>=1, <2' or *"
            ),
        })?;
        Ok(Requirement {
            name: name.into(),
            req,
            variants: Requested::new(),
        })
    }

    /// Parses command-line words: each model (`namespace/name[@REQ]`) followed by the
    /// `NAME=VALUE` words that apply to it.
    pub fn parse_words<S: AsRef<str>>(words: &[S]) -> Result<Vec<Requirement>, ResolveError> {
        let mut out: Vec<(Requirement, Vec<&str>)> = Vec::new();
        for w in words {
            let w = w.as_ref();
            if crate::model::variants::is_variant_word(w) {
                match out.last_mut() {
                    Some((_, vs)) => vs.push(w),
                    None => {
                        return Err(ResolveError::BadRequirement {
                            spec: w.into(),
                            message: "a variant setting comes after the model it applies to (coalescent/block-counting@1 samples=30)".into(),
                        });
                    }
                }
            } else {
                out.push((Requirement::parse(w)?, Vec::new()));
            }
        }
        out.into_iter()
            .map(|(mut req, vs)| {
                req.variants =
                    crate::model::variants::parse_words(vs.iter().copied()).map_err(|e| {
                        ResolveError::BadRequirement {
                            spec: format!("{} {}", req.name, vs.join(" ")),
                            message: e.to_string(),
                        }
                    })?;
                Ok(req)
            })
            .collect()
    }

    /// Parses the words of exactly one model and its variant settings (`ptd eval`, `ptd which`).
    pub fn parse_one<S: AsRef<str>>(words: &[S]) -> Result<Requirement, ResolveError> {
        let mut reqs = Requirement::parse_words(words)?;
        if reqs.len() != 1 {
            return Err(ResolveError::BadRequirement {
                spec: words
                    .iter()
                    .map(|w| w.as_ref())
                    .collect::<Vec<_>>()
                    .join(" "),
                message: "name one model, then its variant settings".into(),
            });
        }
        Ok(reqs.remove(0))
    }
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.req)?;
        for (k, v) in &self.variants {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

const ROOT: &str = "<requirements>";

/// A set of versions that remembers the requirement it came from, so that a conflict is
/// explained with `^1.2` rather than with the list of versions `^1.2` matched.
#[derive(Clone, Debug)]
struct ReqSet {
    ranges: Ranges<Version>,
    label: Option<std::sync::Arc<str>>,
}

impl PartialEq for ReqSet {
    fn eq(&self, other: &Self) -> bool {
        self.ranges == other.ranges
    }
}
impl Eq for ReqSet {}

impl std::fmt::Display for ReqSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.label {
            Some(l) => write!(f, "{l}"),
            None => write!(f, "{}", self.ranges),
        }
    }
}

impl ReqSet {
    fn plain(ranges: Ranges<Version>) -> ReqSet {
        ReqSet {
            ranges,
            label: None,
        }
    }
}

impl VersionSet for ReqSet {
    type V = Version;
    fn empty() -> Self {
        ReqSet::plain(Ranges::empty())
    }
    fn singleton(v: Version) -> Self {
        ReqSet::plain(Ranges::singleton(v))
    }
    fn complement(&self) -> Self {
        ReqSet::plain(self.ranges.complement())
    }
    fn intersection(&self, other: &Self) -> Self {
        let r = self.ranges.intersection(&other.ranges);
        // Keep a label when the intersection is one of the two sets unchanged.
        let label = if r == self.ranges {
            self.label.clone()
        } else if r == other.ranges {
            other.label.clone()
        } else {
            None
        };
        ReqSet { ranges: r, label }
    }
    fn contains(&self, v: &Version) -> bool {
        self.ranges.contains(v)
    }
}

/// Resolves `roots` (and their dependencies) to one version per model, and for a family to
/// one member: the index line of the member asked for (defaults filled in), or, when the
/// registry has not prebuilt it, [`IndexEntry::to_build`] of a line of that version.
///
/// `locked` versions are preferred when they still match, and are the only way a yanked
/// version is chosen. A root that asks for variant values only matches versions whose family
/// accepts them.
pub async fn resolve(
    registry: &Registry,
    roots: &[Requirement],
    locked: &BTreeMap<String, Version>,
) -> Result<BTreeMap<String, IndexEntry>, ResolveError> {
    let mut asked: BTreeMap<&str, &Requested> = BTreeMap::new();
    for r in roots {
        if let Some(prev) = asked.insert(&r.name, &r.variants)
            && prev != &r.variants
        {
            return Err(ResolveError::BadRequirement {
                spec: r.to_string(),
                message: format!(
                    "{} is asked for with two different sets of variants; install one member of a family at a time",
                    r.name
                ),
            });
        }
    }
    // Read the index files of every model that can be reached: every line, and one line per
    // version (the lines of a version share their family, dependencies and yanked state).
    let mut lines: BTreeMap<String, Vec<IndexEntry>> = BTreeMap::new();
    let mut all: BTreeMap<String, Vec<IndexEntry>> = BTreeMap::new();
    let mut queue: Vec<String> = roots.iter().map(|r| r.name.clone()).collect();
    while let Some(name) = queue.pop() {
        if all.contains_key(&name) {
            continue;
        }
        let entries = registry.entries(&name).await?;
        for e in &entries {
            for d in &e.deps {
                if !all.contains_key(&d.name) {
                    queue.push(d.name.clone());
                }
            }
        }
        let mut versions: Vec<IndexEntry> = Vec::new();
        for e in &entries {
            if !versions.iter().any(|v| v.version == e.version) {
                versions.push(e.clone());
            }
        }
        versions.sort_by(|a, b| a.version.cmp(&b.version));
        all.insert(name.clone(), versions);
        lines.insert(name, entries);
    }
    // A version qualifies for a root with variant values only if its family takes them.
    let takes = |name: &str, e: &IndexEntry| -> bool {
        match asked.get(name) {
            Some(v) if !v.is_empty() => e
                .family
                .as_ref()
                .is_some_and(|f| f.variants.settle(v).is_ok()),
            _ => true,
        }
    };
    // First try to keep every locked version; then solve afresh.
    let candidates = |name: &str, e: &IndexEntry, prefer_locked: bool| -> bool {
        let is_locked = locked.get(name) == Some(&e.version);
        takes(name, e)
            && if prefer_locked && locked.contains_key(name) {
                is_locked
            } else {
                !e.yanked || is_locked
            }
    };
    let mut solved = None;
    for prefer_locked in [true, false] {
        match solve(roots, &all, &candidates, prefer_locked) {
            Ok(s) => {
                solved = Some(s);
                break;
            }
            Err(e) if !prefer_locked || locked.is_empty() => {
                return Err(explain_no_match(roots, &all, locked)
                    .or_else(|| explain_variants(roots, &all))
                    .unwrap_or(e));
            }
            Err(_) => continue,
        }
    }
    let solved = solved.expect("the loop returns or solves");
    solved
        .into_iter()
        .map(|(name, e)| {
            let member = member(&e, asked.get(name.as_str()).copied(), &lines[&name])?;
            Ok((name, member))
        })
        .collect()
}

/// The line of the member asked for, among `lines` (of the model of `e`), or `e` to be built.
fn member(
    e: &IndexEntry,
    asked: Option<&Requested>,
    lines: &[IndexEntry],
) -> Result<IndexEntry, ResolveError> {
    let Some(f) = &e.family else {
        return Ok(e.clone());
    };
    let empty = Requested::new();
    let want: Variants =
        f.variants
            .settle(asked.unwrap_or(&empty))
            .map_err(|err| ResolveError::BadRequirement {
                spec: e.name.clone(),
                message: err.to_string(),
            })?;
    Ok(lines
        .iter()
        .find(|l| l.version == e.version && l.variants == want)
        .cloned()
        .unwrap_or_else(|| e.to_build(want)))
}

/// Why a root's variant values match no version, when versions match its requirement.
fn explain_variants(
    roots: &[Requirement],
    all: &BTreeMap<String, Vec<IndexEntry>>,
) -> Option<ResolveError> {
    for r in roots.iter().filter(|r| !r.variants.is_empty()) {
        let matching: Vec<&IndexEntry> = all[&r.name]
            .iter()
            .filter(|e| r.req.matches(&e.version) && !e.yanked)
            .collect();
        if matching.iter().any(|e| {
            e.family
                .as_ref()
                .is_some_and(|f| f.variants.settle(&r.variants).is_ok())
        }) {
            continue;
        }
        let why: Vec<String> = matching
            .iter()
            .rev()
            .map(|e| match &e.family {
                None => format!("{} takes no variants", e.version),
                Some(f) => format!(
                    "{}: {}",
                    e.version,
                    f.variants
                        .settle(&r.variants)
                        .err()
                        .map(|x| x.to_string())
                        .unwrap_or_default()
                ),
            })
            .collect();
        return Some(ResolveError::NoMatch {
            name: r.name.clone(),
            req: r.to_string(),
            detail: format!(" ({})", why.join("; ")),
        });
    }
    None
}

fn solve<'a>(
    roots: &[Requirement],
    all: &'a BTreeMap<String, Vec<IndexEntry>>,
    candidates: &dyn Fn(&str, &IndexEntry, bool) -> bool,
    prefer_locked: bool,
) -> Result<BTreeMap<String, IndexEntry>, ResolveError> {
    let mut p: OfflineDependencyProvider<String, ReqSet> = OfflineDependencyProvider::new();
    // The versions of `name` that are candidates and match `req`, as a few ranges: each run of
    // consecutive listed versions that all qualify becomes one range reaching up to the next
    // listed version (no other version exists in between), so building the set is linear in
    // the number of versions.
    let matching = |name: &str, req: &VersionReq| -> ReqSet {
        let mut ranges = Ranges::empty();
        let mut start: Option<&Version> = None;
        for e in &all[name] {
            let ok = candidates(name, e, prefer_locked) && req.matches(&e.version);
            match (ok, start) {
                (true, None) => start = Some(&e.version),
                (false, Some(s)) => {
                    ranges = ranges.union(&Ranges::between(s.clone(), e.version.clone()));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            ranges = ranges.union(&Ranges::higher_than(s.clone()));
        }
        ReqSet {
            ranges,
            label: Some(req.to_string().into()),
        }
    };
    p.add_dependencies(
        ROOT.to_string(),
        Version::new(0, 0, 0),
        roots
            .iter()
            .map(|r| (r.name.clone(), matching(&r.name, &r.req)))
            .collect::<Vec<_>>(),
    );
    for (name, entries) in all {
        for e in entries {
            let deps: Vec<(String, ReqSet)> = e
                .deps
                .iter()
                .map(|d| (d.name.clone(), matching(&d.name, &d.req)))
                .collect();
            p.add_dependencies(name.clone(), e.version.clone(), deps);
        }
    }
    match pubgrub::resolve(&p, ROOT.to_string(), Version::new(0, 0, 0)) {
        Ok(sol) => Ok(sol
            .into_iter()
            .filter(|(n, _)| n != ROOT)
            .map(|(n, v)| {
                let e = all[&n]
                    .iter()
                    .find(|e| e.version == v)
                    .expect("solution version exists")
                    .clone();
                (n, e)
            })
            .collect()),
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            Err(ResolveError::Conflict(
                DefaultStringReporter::report(&tree)
                    .replace(&format!("{ROOT} 0.0.0"), "your requirements")
                    .replace(ROOT, "your requirements")
                    .replace("your requirements depends on", "you require")
                    .replace(
                        "your requirements is forbidden",
                        "these cannot be met together",
                    ),
            ))
        }
        Err(e) => Err(ResolveError::Conflict(e.to_string())),
    }
}

/// A plainer message when a root requirement matches nothing at all.
fn explain_no_match(
    roots: &[Requirement],
    all: &BTreeMap<String, Vec<IndexEntry>>,
    locked: &BTreeMap<String, Version>,
) -> Option<ResolveError> {
    for r in roots {
        let entries = &all[&r.name];
        let usable: Vec<&IndexEntry> = entries
            .iter()
            .filter(|e| {
                r.req.matches(&e.version) && (!e.yanked || locked.get(&r.name) == Some(&e.version))
            })
            .collect();
        if usable.is_empty() {
            let yanked: Vec<String> = entries
                .iter()
                .filter(|e| e.yanked && r.req.matches(&e.version))
                .map(|e| e.version.to_string())
                .collect();
            let versions: BTreeSet<String> = entries
                .iter()
                .filter(|e| !e.yanked)
                .map(|e| e.version.to_string())
                .collect();
            let mut detail = format!(
                " (available: {})",
                if versions.is_empty() {
                    "none".to_string()
                } else {
                    versions.into_iter().collect::<Vec<_>>().join(", ")
                }
            );
            if !yanked.is_empty() {
                detail.push_str(&format!("; yanked: {}", yanked.join(", ")));
            }
            if entries.iter().any(|e| !e.version.pre.is_empty())
                && r.req.comparators.iter().all(|c| c.pre.is_empty())
            {
                detail.push_str("; pre-releases are only chosen when the requirement names one");
            }
            return Some(ResolveError::NoMatch {
                name: r.name.clone(),
                req: r.req.to_string(),
                detail,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_requirement_syntax() {
        let r = Requirement::parse("coalescent/kingman@1.2").unwrap();
        assert!(r.req.matches(&"1.2.1".parse().unwrap()));
        assert!(r.req.matches(&"1.9.0".parse().unwrap()));
        assert!(!r.req.matches(&"2.0.0".parse().unwrap()));
        assert!(!r.req.matches(&"1.1.9".parse().unwrap()));
        let r = Requirement::parse("a/b@~1.2").unwrap();
        assert!(!r.req.matches(&"1.3.0".parse().unwrap()));
        let r = Requirement::parse("a/b@>=1, <2").unwrap();
        assert!(r.req.matches(&"1.5.0".parse().unwrap()));
        let r = Requirement::parse("a/b").unwrap();
        assert!(r.req.matches(&"7.0.0".parse().unwrap()));
        assert!(!r.req.matches(&"7.0.0-beta.1".parse().unwrap()));
        assert!(
            Requirement::parse("a/b@=1.2.3")
                .unwrap()
                .req
                .matches(&"1.2.3".parse().unwrap())
        );
        let e = Requirement::parse("a/b@one").unwrap_err();
        assert!(e.to_string().contains("not a version requirement"), "{e}");
        let e = Requirement::parse("Kingman@1").unwrap_err();
        assert!(e.to_string().contains("namespace/name"), "{e}");
    }
}
