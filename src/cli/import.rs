//! `ptd import phasic-traces`: mirror a phasic-traces registry into a ptd registry.

use super::Cx;
use super::output::{Out, Show, emit};
use ptd::ops;
use ptd::ops::import::ImportReport;
use ptd::{Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
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

impl Show for ImportReport {
    fn show(&self, out: &Out) {
        for e in &self.entries {
            let v = e
                .version
                .as_ref()
                .map_or("-".to_string(), |v| v.to_string());
            out.status(
                "Import",
                &format!("{} ({}) {v}: {}", e.name, e.id, e.action),
            );
        }
    }
}

pub fn run(c: ImportCommand, cx: &Cx) -> Result<ExitCode> {
    let ImportCommand::PhasicTraces {
        source,
        registry,
        store,
        key,
        namespace,
        dry_run,
        json,
    } = c;
    let ctx = cx.ctx()?;
    let signer = ops::keys::signer(key.as_deref())?;
    let _guard = cx.enter();
    let store = store
        .map(|s| ptd::publish::store::Store::from_spec(&s, None, None))
        .transpose()
        .map_err(Error::from)?;
    let index = match ops::registry::index_target(&ctx.config, &registry, "", "main")? {
        ops::registry::IndexTarget::Dir(d) => d,
        ops::registry::IndexTarget::Repo(_) => {
            return Err(Error::Usage(
                "--registry: import into a local index directory (a checkout)".into(),
            ));
        }
    };
    let http = ctx.http()?;
    let report = cx.block_on(ops::import::phasic_traces(
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
    emit(&cx.out, &report, json);
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
