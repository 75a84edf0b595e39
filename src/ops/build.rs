//! Opening a command's input with the configured bounds on exploring a generator's state space,
//! and a progress line while a long exploration runs.

use crate::config::Config;
use crate::graph::SizeLimits;
use crate::input::Input;
use crate::install::Home;
use crate::model::{Exploration, Requested};
use crate::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;

/// The bundle of an input: its metadata, graph, symbolic form and named reward sets (a
/// recipe's are checked against its graph here).
pub fn build_bundle(input: &Input) -> Result<crate::bundle::Built> {
    build_bundle_in(input, crate::bundle::FORMAT_VERSION)
}

/// [`build_bundle`] in a given bundle format version: 4, or 3 (JSON graph and DAG) for users
/// of a ptd from before the binary layouts.
pub fn build_bundle_in(input: &Input, format_version: u32) -> Result<crate::bundle::Built> {
    use crate::bundle::{FORMAT_VERSION, JSON_FORMAT_VERSION};
    if format_version != FORMAT_VERSION && format_version != JSON_FORMAT_VERSION {
        return Err(Error::Usage(format!(
            "--bundle-format {format_version}: ptd builds bundle format {FORMAT_VERSION} (binary graph and DAG) or {JSON_FORMAT_VERSION} (JSON graph and DAG)"
        )));
    }
    let rewards = input.reward_sets()?;
    Ok(crate::bundle::build_in_format(
        input.meta(),
        input.graph()?,
        &input.symbolic(),
        &rewards,
        format_version,
    ))
}

/// The bounds: `PTD_MAX_VERTICES`, `PTD_MAX_EDGES`, `PTD_MAX_MEMORY` (a size such as `8GiB`),
/// else `[build] max-vertices`, `max-edges`, `max-memory` in `config`, else
/// [`SizeLimits::DEFAULT`].
pub fn size_limits(config: &Config) -> Result<SizeLimits> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let count = |name: &str, fallback: Option<u64>, default: usize| -> Result<usize> {
        match var(name) {
            Some(v) => v.trim().parse().map_err(|_| {
                Error::Usage(format!(
                    "{name}='{v}': expected a whole number, e.g. {name}={default}"
                ))
            }),
            None => Ok(fallback.map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX))),
        }
    };
    let d = SizeLimits::DEFAULT;
    let memory = match var("PTD_MAX_MEMORY") {
        Some(v) => crate::cache::parse_size(&v)
            .map_err(|e| Error::Usage(format!("PTD_MAX_MEMORY: {e}")))?,
        None => match &config.build.max_memory {
            Some(m) => crate::cache::parse_size(m)
                .map_err(|e| Error::Usage(format!("[build] max-memory in config.toml: {e}")))?,
            None => d.max_bytes,
        },
    };
    Ok(SizeLimits {
        max_vertices: count(
            "PTD_MAX_VERTICES",
            config.build.max_vertices,
            d.max_vertices,
        )?,
        max_edges: count("PTD_MAX_EDGES", config.build.max_edges, d.max_edges)?,
        max_bytes: memory,
    })
}

/// The configured bounds on exploring a state space: `home`'s `config.toml` and the
/// environment ([`size_limits`]).
pub fn configured_limits(home: &Home) -> Result<SizeLimits> {
    size_limits(&Config::load(&home.root.join("config.toml"))?)
}

/// Opens a command's input: an installed model by `NAME[@REQ]` (when no such path exists), or
/// what [`Input::open`] opens, within the configured bounds
/// (`$PTD_HOME/config.toml` and the environment, [`size_limits`]), showing the vertices found
/// so far on a terminal unless `quiet`.
pub fn open_input(path: &Path, quiet: bool) -> Result<Input> {
    open_member(path, &Requested::new(), quiet)
}

/// Like [`open_input`], for a family (a recipe, or an installed model) its member with the
/// variant values `variants`.
pub fn open_member(path: &Path, variants: &Requested, quiet: bool) -> Result<Input> {
    let home = Home::from_env();
    if !path.exists()
        && let Some(query) = path.to_str()
        && let Some(found) = installed(&home, query, variants)?
    {
        let b = crate::bundle::read_installed(Path::new(&found.bundle))?;
        return Ok(Input::Installed(Box::new(b)));
    }
    let limits = configured_limits(&home)?;
    let bar = progress_line(quiet, "Exploring");
    let tell = |vertices: usize, edges: usize| {
        bar.set_message(format!(
            "{vertices} vertices, {edges} edges (at most {} vertices)",
            limits.max_vertices
        ));
        bar.tick();
    };
    let how = Exploration {
        limits,
        progress: Some(&tell),
    };
    let input = Input::open_member(path, variants, &how);
    bar.finish_and_clear();
    input
}

/// A spinner line on standard error (`PREFIX ⠋ message (elapsed)`), hidden when `quiet` or
/// when standard error is not a terminal.
pub fn progress_line(quiet: bool, prefix: &'static str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12.cyan.bold} {spinner} {msg} ({elapsed})")
            .expect("valid template"),
    );
    bar.set_prefix(prefix);
    bar
}

/// The newest installed version `query` (`NAME[@REQ]`, a valid model name) names, if any;
/// `None` when it is not a model name (then it is a path that does not exist).
fn installed(
    home: &Home,
    query: &str,
    variants: &Requested,
) -> Result<Option<crate::cache::Found>> {
    let name = query.split_once('@').map_or(query, |(n, _)| n);
    if crate::model::check_name(name).is_err() {
        return Ok(None);
    }
    let found = crate::cache::find_member(home, query, variants)?;
    let shown = crate::cache::query_words(query, variants);
    match crate::cache::newest_one(found, &shown)? {
        Some(f) => Ok(Some(f)),
        None => Err(Error::Usage(format!(
            "'{shown}' is neither a file nor an installed model: `ptd install {shown}` first (see `ptd list`)"
        ))),
    }
}

/// The path of a recipe's `model.toml` relative to the `models/` directory that holds it, as
/// recorded in an index line (`ptd publish --with-recipe`).
pub fn recipe_path(input: &Path) -> Result<String> {
    let file = if input.is_dir() {
        input.join("model.toml")
    } else {
        input.to_path_buf()
    };
    let abs = std::fs::canonicalize(&file).map_err(|e| Error::io(&file, e))?;
    let parts: Vec<String> = abs
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let at = parts.iter().rposition(|p| p == "models").ok_or_else(|| {
        Error::Usage(format!(
            "--with-recipe: {} is not inside a models/ directory",
            abs.display()
        ))
    })?;
    Ok(parts[at + 1..].join("/"))
}
