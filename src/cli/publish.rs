//! `ptd publish`: build, sign and upload a model version, then add its index line.

use super::Cx;
use super::output::{Out, Show, emit};
use ptd::ops;
use ptd::ops::publish::{Report, Status};
use ptd::{Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A model directory, a graph file or a bundle.
    input: PathBuf,
    /// The registry's index: a directory (a checkout; commit the result), a name from
    /// $PTD_HOME/config.toml, or https://github.com/OWNER/REPO[/tree/BRANCH/PATH] (a pull
    /// request is opened).
    #[arg(long, required_unless_present = "index_repo")]
    registry: Option<String>,
    /// The index is in this GitHub repository (OWNER/REPO): read it there and open a pull
    /// request with the change (token in GITHUB_TOKEN), no git checkout needed.
    #[arg(long, value_name = "OWNER/REPO", conflicts_with = "registry")]
    index_repo: Option<String>,
    /// The index's directory inside --index-repo.
    #[arg(long, value_name = "PATH", default_value = "registry-index")]
    index_path: String,
    /// The branch of --index-repo the pull request targets.
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    base: String,
    /// Where archives go: a directory, file://DIR or s3://BUCKET/PREFIX (default: the
    /// registry's first file:// or s3:// artifact location).
    #[arg(long)]
    store: Option<String>,
    #[command(flatten)]
    s3: super::S3Args,
    /// Secret key (else PTD_SIGNING_KEY, else the registry's key found by its id under
    /// $PTD_HOME/keys/).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Show what would be uploaded and added; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Record the recipe's path under models/ in the index, so that clients can rebuild
    /// the bundle from the recipe when no artifact location answers.
    #[arg(long)]
    with_recipe: bool,
    /// A platform archive of JAX compilation-cache entries for this bundle, written by
    /// `ptd build --jax` (repeatable); each is signed and listed under its tag. A version
    /// already published with the same content gains the tags it lacks.
    #[arg(long = "jax-archive", value_name = "FILE")]
    jax_archive: Vec<PathBuf>,
    /// An archive of phasic's own elimination artifact for this bundle, written by
    /// `ptd build --with-phasic` (repeatable); signed and listed under its tag.
    #[arg(long = "phasic-archive", value_name = "FILE")]
    phasic_archive: Vec<PathBuf>,
    #[arg(long)]
    json: bool,
}

impl Show for Report {
    fn show(&self, out: &Out) {
        for f in &self.files {
            out.status(f.action.verb(), &format!("{} ({} bytes)", f.to, f.size));
        }
        if let Some(loc) = &self.location_added {
            out.status(
                "Listed",
                &format!(
                    "{} as an artifact location in the registry's config.json (re-signed)",
                    loc.url()
                ),
            );
        }
        if let Some(pr) = &self.pull_request {
            out.status(
                "Proposed",
                &format!("pull request #{} {} ({})", pr.number, pr.url, pr.branch),
            );
        }
        let e = &self.entry;
        let verb = match self.status {
            Status::Published => "Published",
            Status::Unchanged => "Unchanged",
            Status::DryRun => "Dry run",
        };
        out.status(
            verb,
            &format!(
                "{} {} (content {})",
                e.name,
                e.version,
                &e.content_hash[..16]
            ),
        );
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let mut jax = a.jax_archive;
    jax.extend(a.phasic_archive);
    let recipe = if a.with_recipe {
        Some(ops::build::recipe_path(&a.input)?)
    } else {
        None
    };
    // GitHub clients need the runtime when they are built.
    let _guard = cx.enter();
    let store = a
        .store
        .map(|s| {
            ptd::publish::store::Store::from_spec(
                &s,
                a.s3.s3_endpoint.as_deref(),
                a.s3.s3_region.as_deref(),
            )
        })
        .transpose()
        .map_err(Error::from)?;
    let mut index_repo = a
        .index_repo
        .map(|r| ptd::publish::pull_request::IndexRepo::new(&r, &a.index_path, &a.base))
        .transpose()
        .map_err(Error::from)?;
    let mut registry = PathBuf::new();
    if let Some(spec) = &a.registry {
        let config = cx.ctx()?.config;
        match ops::registry::index_target(&config, spec, &a.index_path, &a.base)? {
            ops::registry::IndexTarget::Dir(d) => registry = d,
            ops::registry::IndexTarget::Repo(r) => index_repo = Some(r),
        }
    }
    let index_dir = index_repo.is_none().then_some(registry.as_path());
    let signer = ops::registry::registry_signer(a.key.as_deref(), index_dir)?;
    let report = cx.block_on(ops::publish::publish(ops::publish::Request {
        input: &a.input,
        index: &registry,
        index_repo,
        store,
        signer: &signer,
        recipe,
        jax: &jax,
        dry_run: a.dry_run,
    }))?;
    emit(&cx.out, &report, a.json);
    Ok(ExitCode::SUCCESS)
}
