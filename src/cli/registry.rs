//! `ptd registry init` and `ptd registry resign`.

use super::Cx;
use ptd::index::ArtifactLocation;
use ptd::ops;
use ptd::{Error, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum RegistryCommand {
    /// Create a registry index in DIR: config.json and a signed snapshot.
    Init {
        dir: PathBuf,
        /// The registry's name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Artifact URL templates in order of preference, e.g.
        /// 'file:///srv/ptd/{file}' or 'https://mirror.example.org/{file}' (default: the
        /// directory DIR-archives beside DIR).
        #[arg(long = "artifacts", value_name = "URL")]
        artifacts: Vec<String>,
        #[command(flatten)]
        s3: super::S3Args,
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

/// The password for a new secret key: `PTD_SIGNING_KEY_PASSWORD`, else asked twice on the
/// terminal.
pub fn key_password() -> Result<String> {
    if let Some(p) = ops::keys::password_from_env() {
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

pub fn run(c: RegistryCommand, cx: &Cx) -> Result<ExitCode> {
    match c {
        RegistryCommand::Init {
            dir,
            name,
            artifacts,
            s3,
            key,
            unencrypted,
        } => {
            let name = ops::registry::registry_name(&dir, name.as_deref())?;
            let (signer, generated) = ops::registry::registry_key(key.as_deref(), &name, || {
                (!unencrypted).then(key_password).transpose()
            })?;
            let artifacts = artifacts
                .iter()
                .map(|u| artifact_location(u, s3.s3_endpoint.as_deref(), s3.s3_region.as_deref()))
                .collect::<Result<Vec<_>>>()?;
            let key_file = generated.as_ref().map(|k| k.secret.as_path());
            ops::registry::registry_init(&dir, &name, artifacts, &signer, key_file)?;
            if let Some(k) = generated {
                cx.out.status(
                    "Created",
                    &format!(
                        "key {}: secret {} (keep it out of the index; give it to CI as a secret), public {}",
                        k.key_id,
                        k.secret.display(),
                        k.public.display()
                    ),
                );
            }
            cx.out.status(
                "Created",
                &format!(
                    "registry '{name}' in {} (key {})",
                    dir.display(),
                    signer.key_id
                ),
            );
        }
        RegistryCommand::Resign {
            dir,
            key,
            valid_for,
        } => {
            let validity = match valid_for {
                None => ptd::publish::SNAPSHOT_VALIDITY,
                Some(a) => humantime::parse_duration(&a).map_err(|e| {
                    Error::Usage(format!("--valid-for '{a}': {e} (e.g. 7days, 12h)"))
                })?,
            };
            let signer = ops::registry::registry_signer(key.as_deref(), Some(&dir))?;
            ptd::publish::IndexDir::new(&dir)
                .resign_valid_for(&signer, validity)
                .map_err(Error::from)?;
            cx.out
                .status("Signed", &format!("a new snapshot of {}", dir.display()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn artifact_location(
    url: &str,
    s3_endpoint: Option<&str>,
    s3_region: Option<&str>,
) -> Result<ArtifactLocation> {
    ArtifactLocation::from_template(url, s3_endpoint, s3_region)
        .map_err(|e| Error::Usage(e.to_string()))
}
