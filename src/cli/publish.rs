//! `ptd publish`: build, sign and upload a model version, then add its index line.

use super::Cx;
use super::output::{Out, Show, emit};
use ptd::ops;
use ptd::ops::publish::{FamilyReport, Report, Status};
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
    /// For a recipe with [variants]: the members to publish, NAME=SET words (samples=2..50,
    /// samples=10,20,30; several words: every combination); the default member is always
    /// published. Without it a family publishes its default member.
    #[arg(long, value_name = "NAME=SET", num_args = 1..)]
    variants: Vec<String>,
    /// Threads building a family's members (default: the machine's cores).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// A directory of a family's members already built (`ptd build --variants ... --shard
    /// I/N`): each is checked like an install checks it and must be the recipe's member; the
    /// members missing there are built here.
    #[arg(long, value_name = "DIR")]
    prebuilt: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// Up to this many members, a family publish prints one line per member.
const MEMBER_LINES: usize = 20;

impl Show for FamilyReport {
    fn show(&self, out: &Out) {
        let verb = |s: Status| match s {
            Status::Published => "Published",
            Status::Unchanged => "Unchanged",
            Status::DryRun => "Dry run",
        };
        if let Some(r) = self.files.iter().find(|f| {
            self.family
                .recipe
                .as_ref()
                .is_some_and(|r| r.file == f.file)
        }) {
            out.status(r.action.verb(), &format!("{} ({} bytes)", r.to, r.size));
        }
        if self.members.len() <= MEMBER_LINES {
            for m in &self.members {
                out.status(
                    verb(m.status),
                    &format!(
                        "{} {} {} ({}, {}, content {})",
                        self.name,
                        self.version,
                        m.variants,
                        m.file,
                        m.source,
                        &m.content_hash[..16]
                    ),
                );
            }
        }
        show_listed_and_proposed(
            out,
            self.location_added.as_ref(),
            self.pull_request.as_ref(),
        );
        let built = self.members.iter().filter(|m| m.source == "built").count();
        let prebuilt = self
            .members
            .iter()
            .filter(|m| m.source == "prebuilt")
            .count();
        out.status(
            verb(self.status),
            &format!(
                "{} {}: {} members ({}), {} new ({built} built, {prebuilt} prebuilt), {} unchanged",
                self.name,
                self.version,
                self.members.len(),
                ptd::ops::family::compact(
                    &self
                        .members
                        .iter()
                        .map(|m| m.variants.clone())
                        .collect::<Vec<_>>()
                ),
                self.members.len() - self.count(Status::Unchanged),
                self.count(Status::Unchanged)
            ),
        );
    }
}

/// The status lines of a store added to the registry's locations and of a pull request opened.
fn show_listed_and_proposed(
    out: &Out,
    location_added: Option<&ptd::index::ArtifactLocation>,
    pull_request: Option<&ptd::publish::pull_request::PullRequest>,
) {
    if let Some(loc) = location_added {
        out.status(
            "Listed",
            &format!(
                "{} as an artifact location in the registry's config.json (re-signed)",
                loc.url()
            ),
        );
    }
    if let Some(pr) = pull_request {
        out.status(
            "Proposed",
            &format!("pull request #{} {} ({})", pr.number, pr.url, pr.branch),
        );
    }
}

impl Show for Report {
    fn show(&self, out: &Out) {
        for f in &self.files {
            out.status(f.action.verb(), &format!("{} ({} bytes)", f.to, f.size));
        }
        show_listed_and_proposed(
            out,
            self.location_added.as_ref(),
            self.pull_request.as_ref(),
        );
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
    // A recipe with [variants] is published as a family; --variants insists on one.
    let family = if a.variants.is_empty() {
        ops::family::family_recipe(&a.input)?.is_some()
    } else {
        ops::family::require_family(&a.input)?;
        true
    };
    if !family && (a.prebuilt.is_some() || a.jobs.is_some()) {
        return Err(Error::Usage(format!(
            "--prebuilt and --jobs are for a recipe with [variants]; {} is not one",
            a.input.display()
        )));
    }
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
    let req = ops::publish::Request {
        input: &a.input,
        index: &registry,
        index_repo,
        store,
        signer: &signer,
        recipe,
        jax: &jax,
        dry_run: a.dry_run,
    };
    if family {
        let report = cx.block_on(ops::publish::publish_family(
            req,
            &ops::publish::FamilyRequest {
                variants: &a.variants,
                jobs: ops::family::workers(a.jobs)?,
                prebuilt: a.prebuilt.as_deref(),
                progress: !cx.out.quiet,
            },
        ))?;
        emit(&cx.out, &report, a.json);
        return Ok(ExitCode::SUCCESS);
    }
    let report = cx.block_on(ops::publish::publish(req))?;
    emit(&cx.out, &report, a.json);
    Ok(ExitCode::SUCCESS)
}
