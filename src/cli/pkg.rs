//! The package-manager commands: install, projects, queries, keys and publishing.

use clap::Subcommand;
use ptd::index::ArtifactLocation;
use ptd::ops::install::Item;
use ptd::ops::project::{Locked, Update};
use ptd::ops::{self, Context};
use ptd::project::{DEFAULT_REGISTRY, Project};
use ptd::resolve::Requirement;
use ptd::{Error, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy)]
pub struct Global {
    pub offline: bool,
    pub quiet: bool,
}

#[derive(Subcommand)]
pub enum PkgCommand {
    /// Install models: `ptd install NAME@REQ ...` into the user's cache, or, with no names, the
    /// current project's `ptd.toml` (writing `ptd.lock`).
    Install {
        /// Models to install, e.g. coalescent/kingman@1.2 (`@1.2` means ^1.2, as in cargo).
        specs: Vec<String>,
        /// The registry: a name from $PTD_HOME/config.toml, a URL or a directory.
        #[arg(long)]
        registry: Option<String>,
        /// Fail if ptd.lock is missing or would change.
        #[arg(long)]
        locked: bool,
        /// Print what was installed as JSON on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Start a project: write ptd.toml in DIR (default: the current directory).
    Init {
        dir: Option<PathBuf>,
        /// Project name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Add a requirement to ptd.toml and update ptd.lock.
    Add {
        /// NAME[@REQ]; without a requirement, ^ the newest version.
        spec: String,
        #[arg(long)]
        registry: Option<String>,
    },
    /// Remove a requirement from ptd.toml and update ptd.lock.
    Remove { name: String },
    /// Resolve ptd.toml and write ptd.lock, keeping locked versions that still fit.
    Lock {
        /// Fail if ptd.lock would change.
        #[arg(long)]
        locked: bool,
    },
    /// Move locked versions to the newest that ptd.toml allows (all, or the named models).
    Update { names: Vec<String> },
    /// List installed models.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a model's versions in a registry, or what a model directory, bundle or graph file
    /// holds; with the model's named reward sets.
    Info {
        /// NAME[@REQ] in a registry, or the path of a model directory (or its model.toml), a
        /// bundle or a graph file.
        spec: String,
        #[arg(long)]
        registry: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print where an installed model's JAX evaluator module is (NAME[@REQ] or a hash
    /// prefix; the newest match).
    Which { query: String },
    /// Search a registry's models by name, description and keywords.
    Search {
        words: Vec<String>,
        #[arg(long)]
        registry: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every installed archive, bundle file and cached DAG.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Make a minisign key pair: BASE.key (secret) and BASE.pub.
    Keygen {
        /// Path without extension.
        #[arg(short = 'o', long = "output", default_value = "ptd-signing")]
        base: PathBuf,
        /// Do not encrypt the secret key (otherwise the password comes from
        /// PTD_SIGNING_KEY_PASSWORD or is asked for).
        #[arg(long)]
        unencrypted: bool,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a file with minisign: writes FILE.minisig.
    Sign {
        file: PathBuf,
        /// Secret key file (else PTD_SIGNING_KEY).
        #[arg(long)]
        key: Option<PathBuf>,
        /// The signed comment (default for bundles: model, version and content hash).
        #[arg(long)]
        trusted_comment: Option<String>,
    },
    /// Registry maintenance.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// See, bound and repair the store and the cache tiers.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Bring in work shared elsewhere.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Build, sign and publish a model into a registry whose index is a local directory.
    Publish {
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
        /// Endpoint of the S3-compatible service for --store s3://... (not needed for AWS).
        #[arg(long, value_name = "URL")]
        s3_endpoint: Option<String>,
        /// Region of the bucket for --store s3://...
        #[arg(long, value_name = "REGION")]
        s3_region: Option<String>,
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
    },
    /// Mark a published version as yanked (or, with --undo, not yanked) and re-sign.
    Yank {
        /// NAME@VERSION
        spec: String,
        #[arg(long)]
        registry: PathBuf,
        #[arg(long)]
        undo: bool,
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum CacheCommand {
    /// Entries, bytes, hits and misses, oldest and newest use, per tier; the directories.
    Info {
        #[arg(long)]
        json: bool,
    },
    /// Evict least recently used versions (never what a project's ptd.lock pins, unless
    /// --force) and tier-1 files that no installed version owns (phasic's own results), least
    /// recently modified first, and stale temporaries that interrupted writes left. Defaults
    /// from [cache] in $PTD_HOME/config.toml.
    Gc {
        /// e.g. 20GB, 500MiB.
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
        /// e.g. 90days, 12h.
        #[arg(long, value_name = "AGE")]
        max_age: Option<String>,
        #[arg(long)]
        dry_run: bool,
        /// Also evict versions that lockfiles pin.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Where an installed model's symbolic DAG and bundle are: by NAME[@REQ] or a content or
    /// phasic hash prefix (8+ hex digits); newest version first.
    Path {
        query: String,
        #[arg(long)]
        json: bool,
    },
    /// Write chosen installed models (all if none named) to one signed archive, for machines
    /// without network access.
    Export {
        file: PathBuf,
        /// NAME[@REQ] or hash prefixes.
        models: Vec<String>,
        /// Secret key to sign with (else PTD_SIGNING_KEY).
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Install the models of an export, after checking its signature with a trusted key and
    /// every archive against its record.
    Import {
        file: PathBuf,
        /// The exporter's public key: a .pub file or its RW... line (repeatable).
        #[arg(long = "trust", value_name = "KEY", required = true)]
        trust: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The JAX compilation cache (tier 2): list its entries, or remove those unused for AGE
    /// (all with --all).
    Jax {
        /// Remove entries unused for this long (e.g. 30days).
        #[arg(long, value_name = "AGE")]
        vacuum: Option<String>,
        /// Remove every entry (clear the tier).
        #[arg(long, conflicts_with = "vacuum")]
        clear: bool,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Compile an installed model's JAX evaluator into the JAX cache for these batch sizes
    /// (theta of shape (batch, parameters), float64), with the user's Python.
    Prewarm {
        /// NAME[@REQ] or a hash prefix.
        query: String,
        /// Batch sizes, e.g. 1,64,1024.
        #[arg(long, value_name = "LIST", default_value = "1")]
        batch: String,
        /// The k of moments_jit to compile.
        #[arg(long, value_name = "K", default_value_t = 2)]
        moments: usize,
        #[arg(long)]
        json: bool,
    },
    /// Copy, verified, every version installed in another ptd home (a shared cache, another
    /// account) that is missing here.
    Sync {
        /// Another ptd home: a directory, or s3://bucket/prefix holding one.
        from: String,
        /// For s3://: the endpoint of an S3-compatible service (default: [cache] shared-endpoint).
        #[arg(long, value_name = "URL")]
        s3_endpoint: Option<String>,
        /// For s3://: the bucket's region (default: [cache] shared-region).
        #[arg(long, value_name = "REGION")]
        s3_region: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every entry and list stale temporaries; with --repair, remove damaged versions
    /// and install them again, and remove the temporaries.
    Verify {
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Mirror a phasic-traces registry (the registry.json of phasic's Graph.pull_cache) into a
    /// ptd registry: each entry becomes NAMESPACE/ID, its artifacts checked against their
    /// SHA-256, signed and listed; retracted entries are yanked.
    PhasicTraces {
        /// registry.json: a path, file:// or http(s):// URL.
        source: String,
        /// The ptd index: a directory, or a registry name from config.toml whose index is one.
        #[arg(long)]
        registry: String,
        /// Where the archives go (else the registry's first writable artifact location).
        #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX|github:OWNER/REPO")]
        store: Option<String>,
        /// Secret key (else PTD_SIGNING_KEY).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Namespace of the imported models.
        #[arg(long, default_value = "phasic-traces")]
        namespace: String,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Create a registry index in DIR: config.json and a signed snapshot.
    Init {
        dir: PathBuf,
        #[arg(long)]
        name: String,
        /// Artifact URL templates in order of preference, e.g.
        /// 'file:///srv/ptd/{file}' or 'https://mirror.example.org/{file}'.
        #[arg(long = "artifacts", value_name = "URL")]
        artifacts: Vec<String>,
        /// Endpoint of the S3-compatible service for s3:// locations (not needed for AWS).
        #[arg(long, value_name = "URL")]
        s3_endpoint: Option<String>,
        /// Region of the bucket for s3:// locations.
        #[arg(long, value_name = "REGION")]
        s3_region: Option<String>,
        /// The registry's secret key (else PTD_SIGNING_KEY; with neither, a new key pair is
        /// made under $PTD_HOME/keys/).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Do not encrypt a newly made secret key.
        #[arg(long)]
        unencrypted: bool,
    },
    /// Sign a new snapshot of DIR's index files as they are (after editing them by hand).
    Resign {
        dir: PathBuf,
        #[arg(long)]
        key: Option<PathBuf>,
        /// How long the new snapshot stays valid, e.g. 7days (default 365days); clients refuse
        /// an expired snapshot.
        #[arg(long, value_name = "AGE")]
        valid_for: Option<String>,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the async runtime: {e}")))
}

fn status(g: Global, verb: &str, text: &str) {
    if !g.quiet {
        eprintln!("{verb:>12} {text}");
    }
}

/// `--batch 1,64,1024` and `--moments K`, checked.
pub fn parse_batch_arg(batch: &str, moments: usize) -> Result<Vec<u64>> {
    if moments == 0 {
        return Err(Error::Usage("--moments must be at least 1".into()));
    }
    ptd::jax::parse_batches(batch).map_err(|e| Error::Usage(format!("--batch: {e}")))
}

/// `reward sets:`, one line per set: name, count, labels (and state columns).
fn print_reward_sets(sets: &[ptd::model::rewards::Summary]) {
    if sets.is_empty() {
        println!("  reward sets: none");
        return;
    }
    println!("  reward sets (ptd eval --rewards NAME):");
    for s in sets {
        let columns = match &s.columns {
            Some(c) => {
                let c: Vec<String> = c.iter().map(|c| c.to_string()).collect();
                format!(", state columns {}", c.join(", "))
            }
            None => String::new(),
        };
        println!(
            "    {} ({} vector{}{columns}): {}",
            s.name,
            s.count,
            if s.count == 1 { "" } else { "s" },
            s.labels.join(", ")
        );
    }
}

fn print_json(v: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("output serializes")
    );
}

fn report_items(g: Global, items: &[Item], json: bool) {
    if json {
        print_json(&serde_json::json!({ "installed": items }));
        return;
    }
    for i in items {
        let verb = match i.action.as_str() {
            "installed" => "Fresh",
            _ => "Installed",
        };
        let how = if i.action == "installed" {
            String::new()
        } else {
            format!(" ({})", i.origin)
        };
        status(g, verb, &format!("{} {}{how}", i.name, i.version));
        if i.jax_files > 0 {
            status(
                g,
                "JAX",
                &format!("{} compiled entries in the JAX cache", i.jax_files),
            );
        }
        if i.phasic_files > 0 {
            status(
                g,
                "phasic",
                &format!(
                    "{} elimination artifact(s) where phasic looks (with PHASIC_REWARD_COMPUTE_CACHE=1)",
                    i.phasic_files
                ),
            );
        }
        if let Some(note) = &i.jax_note {
            status(g, "Note", note);
        }
        if let Some(note) = &i.tier1_note {
            status(g, "Note", note);
        }
    }
}

fn report_lock(g: Global, l: &Locked) {
    for c in &l.changes {
        status(g, "Locking", &c.to_string());
    }
}

/// After an edit of `ptd.toml` in memory: re-lock, and save the edit only if locking worked.
fn relock_and_save(
    ctx: &Context,
    project: &Project,
    g: Global,
    verb: &str,
    what: &str,
) -> Result<ExitCode> {
    let (l, _) = runtime()?.block_on(ops::project::lock(ctx, project, &Update::Nothing, false))?;
    project.save()?;
    status(g, verb, what);
    report_lock(g, &l);
    Ok(ExitCode::SUCCESS)
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir().map_err(|e| Error::io(".", e))
}

pub fn run(cmd: PkgCommand, g: Global) -> Result<ExitCode> {
    let ctx = || Context::from_env(g.offline, g.quiet);
    match cmd {
        PkgCommand::Install {
            specs,
            registry,
            locked,
            json,
        } => {
            let ctx = ctx()?;
            let rt = runtime()?;
            if specs.is_empty() {
                if registry.is_some() {
                    return Err(Error::Usage(
                        "--registry with no model names: a project's registries are given per dependency in ptd.toml".into(),
                    ));
                }
                let project = Project::find(&current_dir()?)?;
                let (l, items) = rt.block_on(ops::project::install(&ctx, &project, locked))?;
                report_lock(g, &l);
                report_items(g, &items, json);
            } else {
                if locked {
                    return Err(Error::Usage(
                        "--locked applies to a project's ptd.lock; it cannot be combined with model names".into(),
                    ));
                }
                let reqs = specs
                    .iter()
                    .map(|s| Requirement::parse(s))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let items = rt.block_on(ops::install::install_requirements(
                    &ctx,
                    &reqs,
                    registry.as_deref(),
                ))?;
                report_items(g, &items, json);
            }
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Init { dir, name } => {
            let dir = match dir {
                Some(d) => d,
                None => current_dir()?,
            };
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let name = match name {
                Some(n) => n,
                None => std::fs::canonicalize(&dir)
                    .ok()
                    .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "project".into()),
            };
            let p = Project::init(&dir, &name)?;
            status(
                g,
                "Created",
                &format!(
                    "project '{}' ({})",
                    p.name,
                    p.root.join("ptd.toml").display()
                ),
            );
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Add { spec, registry } => {
            let ctx = ctx()?;
            let mut project = Project::find(&current_dir()?)?;
            let req = Requirement::parse(&spec)?;
            let label = registry.unwrap_or_else(|| DEFAULT_REGISTRY.into());
            ctx.registry_label(Some(&label))?;
            project.add(&req, &label);
            relock_and_save(&ctx, &project, g, "Adding", &format!("{req} to ptd.toml"))
        }
        PkgCommand::Remove { name } => {
            let ctx = ctx()?;
            let mut project = Project::find(&current_dir()?)?;
            if !project.remove(&name)? {
                return Err(Error::Usage(format!(
                    "{name} is not a dependency in {}",
                    project.root.join("ptd.toml").display()
                )));
            }
            relock_and_save(
                &ctx,
                &project,
                g,
                "Removing",
                &format!("{name} from ptd.toml"),
            )
        }
        PkgCommand::Lock { locked } => {
            let ctx = ctx()?;
            let project = Project::find(&current_dir()?)?;
            let (l, _) = runtime()?.block_on(ops::project::lock(
                &ctx,
                &project,
                &Update::Nothing,
                locked,
            ))?;
            report_lock(g, &l);
            if l.changes.is_empty() {
                status(
                    g,
                    "Locked",
                    &format!("{} models, unchanged", l.lock.models.len()),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Update { names } => {
            let ctx = ctx()?;
            let project = Project::find(&current_dir()?)?;
            for n in &names {
                if !project.dependencies.contains_key(n)
                    && !ptd::project::Lockfile::read(&project.lock_path())?
                        .is_some_and(|l| l.models.iter().any(|m| &m.name == n))
                {
                    return Err(Error::Usage(format!(
                        "{n} is neither required by ptd.toml nor in ptd.lock"
                    )));
                }
            }
            let (l, _) = runtime()?.block_on(ops::project::lock(
                &ctx,
                &project,
                &Update::Models(names),
                false,
            ))?;
            report_lock(g, &l);
            if l.changes.is_empty() {
                status(
                    g,
                    "Locked",
                    "everything is already at the newest allowed version",
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::List { json } => {
            let list = ops::query::list(&ctx()?)?;
            if json {
                print_json(&list);
            } else {
                for i in &list {
                    println!(
                        "{} {}  [{}]  {}",
                        i.name,
                        i.version,
                        i.registry,
                        &i.content_hash[..16]
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Info {
            spec,
            registry,
            json,
        } => {
            let path = std::path::Path::new(&spec);
            if registry.is_none() && path.exists() {
                let info = ops::query::local_info(path, g.quiet)?;
                if json {
                    print_json(&info);
                } else {
                    println!(
                        "{} {} ({} {})",
                        info.name, info.version, info.kind, info.path
                    );
                    if !info.description.is_empty() {
                        println!("  {}", info.description);
                    }
                    println!("  parameters: {}", info.parameters.join(", "));
                    println!(
                        "  graph: {} vertices, {} edges, states of length {}",
                        info.vertices, info.edges, info.state_length
                    );
                    print_reward_sets(&info.reward_sets);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let ctx = ctx()?;
            let req = ops::query::requirement(&spec)?;
            let info = runtime()?.block_on(ops::query::info(&ctx, &req, registry.as_deref()))?;
            if json {
                print_json(&info);
            } else {
                println!("{} (registry {})", info.name, info.registry);
                if let Some(newest) = info
                    .versions
                    .iter()
                    .max_by(|a, b| a.version.cmp(&b.version))
                {
                    if !newest.description.is_empty() {
                        println!("  {}", newest.description);
                    }
                    println!("  parameters: {}", newest.parameters.join(", "));
                }
                for e in &info.versions {
                    let mark = if Some(e.version.to_string()) == info.selected {
                        "*"
                    } else {
                        " "
                    };
                    println!(
                        "  {mark} {:<10} {}{}  content {}",
                        e.version.to_string(),
                        if e.yanked { "(yanked) " } else { "" },
                        human_size(e.size),
                        &e.content_hash[..16]
                    );
                }
                if info.selected.is_none() {
                    println!("  no version matches {}", req.req);
                }
                if let Some(sets) = &info.reward_sets {
                    print_reward_sets(sets);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Which { query } => {
            let ctx = ctx()?;
            println!("{}", ops::jax::which(&ctx, &query)?.display());
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Search {
            words,
            registry,
            json,
        } => {
            let ctx = ctx()?;
            let hits = runtime()?.block_on(ops::query::search(
                &ctx,
                &words.join(" "),
                registry.as_deref(),
            ))?;
            if json {
                print_json(&hits);
            } else {
                for h in &hits {
                    println!("{} = \"{}\"    # {}", h.name, h.version, h.description);
                }
                if hits.is_empty() {
                    eprintln!("no model matches '{}'", words.join(" "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Verify { json } => cache_command(
            CacheCommand::Verify {
                repair: false,
                json,
            },
            g,
        ),
        PkgCommand::Keygen {
            base,
            unencrypted,
            force,
        } => {
            let password = if unencrypted {
                None
            } else {
                Some(key_password()?)
            };
            let k = ops::keys::keygen(&base, password.as_deref(), force)?;
            status(g, "Created", &format!("key {}", k.key_id));
            println!("secret key: {}", k.secret.display());
            println!("public key: {}  ({})", k.public.display(), k.public_key);
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Sign {
            file,
            key,
            trusted_comment,
        } => {
            let signer = ops::keys::signer(key.as_deref())?;
            let out = ops::keys::sign_file(&file, &signer, trusted_comment.as_deref())?;
            println!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Registry(RegistryCommand::Init {
            dir,
            name,
            artifacts,
            s3_endpoint,
            s3_region,
            key,
            unencrypted,
        }) => {
            let has_key =
                key.is_some() || std::env::var("PTD_SIGNING_KEY").is_ok_and(|v| !v.is_empty());
            let (signer, generated) = if has_key {
                (ops::keys::signer(key.as_deref())?, None)
            } else {
                let password = if unencrypted {
                    None
                } else {
                    Some(key_password()?)
                };
                let home = ptd::install::Home::from_env();
                let (s, files) = ops::publish::new_registry_key(&home, &name, password.as_deref())?;
                (s, Some(files))
            };
            let artifacts = artifacts
                .iter()
                .map(|u| artifact_location(u, s3_endpoint.as_deref(), s3_region.as_deref()))
                .collect::<Result<Vec<_>>>()?;
            ops::publish::registry_init(&dir, &name, artifacts, &signer)?;
            if let Some(k) = generated {
                status(
                    g,
                    "Created",
                    &format!(
                        "key {}: secret {} (keep it out of the index; give it to CI as a secret), public {}",
                        k.key_id,
                        k.secret.display(),
                        k.public.display()
                    ),
                );
            }
            status(
                g,
                "Created",
                &format!(
                    "registry '{name}' in {} (key {})",
                    dir.display(),
                    signer.key_id
                ),
            );
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Cache(c) => cache_command(c, g),
        PkgCommand::Registry(RegistryCommand::Resign {
            dir,
            key,
            valid_for,
        }) => {
            let validity = match valid_for {
                None => ptd::publish::SNAPSHOT_VALIDITY,
                Some(a) => humantime::parse_duration(&a).map_err(|e| {
                    Error::Usage(format!("--valid-for '{a}': {e} (e.g. 7days, 12h)"))
                })?,
            };
            let signer = ops::keys::signer(key.as_deref())?;
            ptd::publish::IndexDir::new(&dir)
                .resign_valid_for(&signer, validity)
                .map_err(Error::from)?;
            status(g, "Signed", &format!("a new snapshot of {}", dir.display()));
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Import(ImportCommand::PhasicTraces {
            source,
            registry,
            store,
            key,
            namespace,
            dry_run,
            json,
        }) => {
            let ctx = ctx()?;
            let signer = ops::keys::signer(key.as_deref())?;
            let rt = runtime()?;
            let _guard = rt.enter();
            let store = store
                .map(|s| ptd::publish::store::Store::from_spec(&s, None, None))
                .transpose()
                .map_err(Error::from)?;
            let index = match ops::publish::index_target(&ctx.config, &registry, "", "main")? {
                ops::publish::IndexTarget::Dir(d) => d,
                ops::publish::IndexTarget::Repo(_) => {
                    return Err(Error::Usage(
                        "--registry: import into a local index directory (a checkout)".into(),
                    ));
                }
            };
            let http = ctx.http()?;
            let report = rt.block_on(ops::import::phasic_traces(
                ops::import::ImportRequest {
                    source: &source,
                    index: &index,
                    store,
                    signer: &signer,
                    namespace: &namespace,
                    dry_run,
                },
                &http,
            ))?;
            if json {
                print_json(&report);
            } else {
                for e in &report.entries {
                    let v = e.version.as_deref().unwrap_or("-");
                    status(
                        g,
                        "Import",
                        &format!("{} ({}) {v}: {}", e.name, e.id, e.action),
                    );
                }
            }
            let skipped = report
                .entries
                .iter()
                .any(|e| e.action.starts_with("skipped"));
            Ok(if skipped {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        PkgCommand::Publish {
            input,
            registry: registry_spec,
            index_repo,
            index_path,
            base,
            store,
            s3_endpoint,
            s3_region,
            key,
            dry_run,
            with_recipe,
            mut jax_archive,
            phasic_archive,
            json,
        } => {
            jax_archive.extend(phasic_archive);
            let signer = ops::keys::signer(key.as_deref())?;
            let recipe = if with_recipe {
                Some(recipe_path(&input)?)
            } else {
                None
            };
            // GitHub clients need the runtime when they are built.
            let rt = runtime()?;
            let _guard = rt.enter();
            let store = store
                .map(|s| {
                    ptd::publish::store::Store::from_spec(
                        &s,
                        s3_endpoint.as_deref(),
                        s3_region.as_deref(),
                    )
                })
                .transpose()
                .map_err(Error::from)?;
            let mut index_repo = index_repo
                .map(|r| ptd::publish::pull_request::IndexRepo::new(&r, &index_path, &base))
                .transpose()
                .map_err(Error::from)?;
            let mut registry = PathBuf::new();
            if let Some(spec) = &registry_spec {
                let config = Context::from_env(g.offline, g.quiet)?.config;
                match ops::publish::index_target(&config, spec, &index_path, &base)? {
                    ops::publish::IndexTarget::Dir(d) => registry = d,
                    ops::publish::IndexTarget::Repo(r) => index_repo = Some(r),
                }
            }
            let report = rt.block_on(ops::publish::publish(ops::publish::Request {
                input: &input,
                index: &registry,
                index_repo,
                store,
                signer: &signer,
                recipe,
                jax: &jax_archive,
                dry_run,
            }))?;
            if json {
                print_json(&report);
            } else {
                for f in &report.files {
                    status(g, &f.action, &format!("{} ({} bytes)", f.to, f.size));
                }
                if let Some(pr) = &report.pull_request {
                    status(
                        g,
                        "Proposed",
                        &format!("pull request #{} {} ({})", pr.number, pr.url, pr.branch),
                    );
                }
                let e = &report.entry;
                let verb = match report.status.as_str() {
                    "published" => "Published",
                    "unchanged" => "Unchanged",
                    _ => "Dry run",
                };
                status(
                    g,
                    verb,
                    &format!(
                        "{} {} (content {})",
                        e.name,
                        e.version,
                        &e.content_hash[..16]
                    ),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PkgCommand::Yank {
            spec,
            registry,
            undo,
            key,
        } => {
            let (name, version) = spec.split_once('@').ok_or_else(|| {
                Error::Usage(format!(
                    "'{spec}': give NAME@VERSION, e.g. coalescent/kingman@1.1.0"
                ))
            })?;
            let version = semver::Version::parse(version).map_err(|e| {
                Error::Usage(format!(
                    "'{spec}': '{version}' is not an exact version ({e})"
                ))
            })?;
            let signer = ops::keys::signer(key.as_deref())?;
            ops::publish::yank(&registry, name, &version, undo, &signer)?;
            status(
                g,
                if undo { "Unyanked" } else { "Yanked" },
                &format!("{name} {version}"),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn cache_command(c: CacheCommand, g: Global) -> Result<ExitCode> {
    let ctx = Context::from_env(g.offline, g.quiet)?;
    match c {
        CacheCommand::Info { json } => {
            let info = ptd::cache::info(&ctx.home)?;
            if json {
                print_json(&info);
            } else {
                for (tier, t) in [
                    ("store", &info.store),
                    ("symbolic (tier 1)", &info.symbolic),
                    ("jax (tier 2)", &info.jax),
                ] {
                    println!(
                        "{tier:<18} {:>6} entries {:>10}  hits {} misses {}  used {} .. {}  {}",
                        t.entries,
                        human_size(t.bytes),
                        t.hits,
                        t.misses,
                        t.oldest_use.as_deref().unwrap_or("-"),
                        t.newest_use.as_deref().unwrap_or("-"),
                        t.dir
                    );
                }
                println!(
                    "{:<18} {:>6} entries {:>10}  stale temporaries (ptd cache gc removes them)",
                    "leftovers",
                    info.leftovers.entries,
                    human_size(info.leftovers.bytes)
                );
                for p in &info.projects {
                    println!("project            {p}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Gc {
            max_size,
            max_age,
            dry_run,
            force,
            json,
        } => {
            let limits = ops::cache::limits(
                &ctx,
                max_size.as_deref(),
                max_age.as_deref(),
                force,
                dry_run,
            )?;
            let r = ops::cache::gc(&ctx, &limits)?;
            if json {
                print_json(&r);
            } else {
                let verb = if dry_run { "Would evict" } else { "Evicted" };
                for e in &r.evicted {
                    status(
                        g,
                        verb,
                        &format!(
                            "{} {} [{}] ({}, last used {})",
                            e.name,
                            e.version,
                            e.registry,
                            human_size(e.bytes),
                            e.last_used
                        ),
                    );
                }
                for k in &r.kept_pinned {
                    status(
                        g,
                        "Kept",
                        &format!("{k} (pinned by a ptd.lock; --force evicts it)"),
                    );
                }
                let verb = if dry_run { "Would remove" } else { "Removed" };
                for f in &r.unowned {
                    status(
                        g,
                        verb,
                        &format!(
                            "{} (no installed version owns it; {}, modified {})",
                            f.path,
                            human_size(f.bytes),
                            f.modified
                        ),
                    );
                }
                for l in &r.leftovers {
                    status(
                        g,
                        verb,
                        &format!(
                            "{} (a stale temporary; {}, modified {})",
                            l.path,
                            human_size(l.bytes),
                            l.modified
                        ),
                    );
                }
                status(
                    g,
                    "Cache",
                    &format!(
                        "{} -> {}",
                        human_size(r.bytes_before),
                        human_size(r.bytes_after)
                    ),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Prewarm {
            query,
            batch,
            moments,
            json,
        } => {
            let batches = parse_batch_arg(&batch, moments)?;
            let done = ops::jax::prewarm(&ctx, &query, &batches, moments)?;
            if json {
                print_json(&done);
            } else {
                for c in &done.compiled {
                    status(
                        g,
                        "Compiled",
                        &format!(
                            "{} {} for batch {} in {:.2}s",
                            done.name, done.version, c.batch, c.seconds
                        ),
                    );
                }
                status(
                    g,
                    "Cached",
                    &format!("{} new entries in {}", done.new_entries, done.jax_cache),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Path { query, json } => {
            let found = ops::query::find_installed(&ctx, &query)?;
            if found.is_empty() {
                return Err(Error::Usage(format!(
                    "nothing installed matches '{query}' (see `ptd list`)"
                )));
            }
            if json {
                print_json(&found);
            } else {
                for f in &found {
                    println!("{}", f.dag);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Export {
            file,
            models,
            key,
            json,
        } => {
            let signer = ops::keys::signer(key.as_deref())?;
            let manifest = ops::cache::export(&ctx, &file, &models, &signer)?;
            if json {
                print_json(&manifest);
            } else {
                for e in &manifest.entries {
                    status(
                        g,
                        "Exported",
                        &format!("{} {} [{}]", e.name, e.version, e.registry),
                    );
                }
                println!("{}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Import { file, trust, json } => {
            let installed = ops::cache::import(&ctx, &file, &trust)?;
            if json {
                print_json(&serde_json::json!({ "imported": installed }));
            } else {
                for i in &installed {
                    status(
                        g,
                        "Imported",
                        &format!("{} {} [{}]", i.name, i.version, i.registry),
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Jax {
            vacuum,
            clear,
            dry_run,
            json,
        } => {
            let entries = if vacuum.is_some() || clear {
                let age = vacuum
                    .map(|a| {
                        humantime::parse_duration(&a).map_err(|e| {
                            Error::Usage(format!("--vacuum '{a}': {e} (e.g. 30days, 12h)"))
                        })
                    })
                    .transpose()?;
                ptd::cache::vacuum_jax(&ctx.home, age, dry_run)?
            } else {
                ptd::cache::jax_entries(&ctx.home)
            };
            if json {
                print_json(&entries);
            } else {
                for e in &entries {
                    println!("{}  {:>10}  {}", e.last_used, human_size(e.bytes), e.name);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Sync {
            from,
            s3_endpoint,
            s3_region,
            json,
        } => {
            let r = ops::cache::sync(&ctx, &from, s3_endpoint.as_deref(), s3_region.as_deref())?;
            if json {
                print_json(&r);
            } else {
                for i in &r.copied {
                    status(
                        g,
                        "Copied",
                        &format!("{} {} [{}]", i.name, i.version, i.registry),
                    );
                }
                for (v, why) in &r.failed {
                    eprintln!("error: {v}: {why}");
                }
                status(
                    g,
                    "Synced",
                    &format!(
                        "{} copied, {} already here, {} failed",
                        r.copied.len(),
                        r.present,
                        r.failed.len()
                    ),
                );
            }
            Ok(if r.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        CacheCommand::Verify { repair, json } => {
            let r = runtime()?.block_on(ops::cache::verify_and_repair(&ctx, repair))?;
            if json {
                print_json(&r);
            } else {
                for p in &r.problems {
                    eprintln!("{} {}: {}: {}", p.name, p.version, p.path, p.message);
                }
                if !repair {
                    for l in &r.leftovers {
                        eprintln!(
                            "leftover: {} ({}, modified {}): a stale temporary; `ptd cache verify --repair` or `ptd cache gc` removes it",
                            l.path,
                            human_size(l.bytes),
                            l.modified
                        );
                    }
                }
                for x in &r.repaired {
                    status(g, "Repaired", x);
                }
                status(
                    g,
                    "Verified",
                    &format!(
                        "{} installed models, {} files, {} problems",
                        r.checked,
                        r.files,
                        r.problems.len()
                    ),
                );
            }
            Ok(if r.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn human_size(n: u64) -> String {
    if n < 10 * 1024 {
        format!("{n} B")
    } else if n < 10 * 1024 * 1024 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{} MiB", n / (1024 * 1024))
    }
}

fn key_password() -> Result<String> {
    if let Ok(p) = std::env::var("PTD_SIGNING_KEY_PASSWORD")
        && !p.is_empty()
    {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "the secret key needs a password: set PTD_SIGNING_KEY_PASSWORD, or pass --unencrypted"
                .into(),
        ));
    }
    let a = rpassword::prompt_password("Password for the new secret key: ")
        .map_err(|e| Error::io("<terminal>", e))?;
    let b = rpassword::prompt_password("Repeat the password: ")
        .map_err(|e| Error::io("<terminal>", e))?;
    if a != b || a.is_empty() {
        return Err(Error::Usage("the passwords are empty or differ".into()));
    }
    Ok(a)
}

fn artifact_location(
    url: &str,
    s3_endpoint: Option<&str>,
    s3_region: Option<&str>,
) -> Result<ArtifactLocation> {
    ArtifactLocation::from_template(url, s3_endpoint, s3_region)
        .map_err(|e| Error::Usage(e.to_string()))
}

/// The path of a recipe's `model.toml` relative to the `models/` directory that holds it.
fn recipe_path(input: &Path) -> Result<String> {
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
