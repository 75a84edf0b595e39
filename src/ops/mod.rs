//! What the commands do, above the pipeline modules: open the registry the user named, resolve,
//! install, lock a project, report. The command line only parses arguments and calls these.

pub mod build;
pub mod cache;
pub mod eval;
pub mod family;
pub mod import;
pub mod install;
pub mod jax;
pub mod keys;
pub mod project;
pub mod publish;
pub mod query;
pub mod registry;

use crate::config::Config;
use crate::fetch::{Http, HttpOptions, Token, host_of};
use crate::index::IndexSource;
use crate::index::registry::{KeyTrust, Registry};
use crate::install::Home;
use crate::project::DEFAULT_REGISTRY;
use crate::{Error, Result};
use std::path::Path;

/// Settings shared by every command.
pub struct Context {
    pub home: Home,
    pub config: Config,
    /// Use only what is cached: no index or archive is fetched.
    pub offline: bool,
    /// No progress bars.
    pub quiet: bool,
    /// The user's Python and which JAX archives fit it.
    pub jax: crate::platform::Target,
    /// Size caps of the files read whole from registries.
    pub limits: crate::fetch::MetadataLimits,
    /// Whether and how members of families that were not prebuilt are built (`--no-build`
    /// refuses), within the configured size bounds, with a progress line on a terminal.
    pub builds: crate::install::Builds,
    /// The progress line of builds, cleared by [`Context::finish_progress`].
    progress: indicatif::ProgressBar,
}

/// A registry opened and verified, with the HTTP client to download its archives.
pub struct Opened {
    /// How the user named it: `default`, a configured name, a URL or a directory.
    pub label: String,
    pub registry: Registry,
    pub http: Http,
}

impl Context {
    /// Reads `$PTD_HOME/config.toml` and the environment.
    pub fn from_env(offline: bool, quiet: bool) -> Result<Context> {
        let mut home = Home::from_env();
        let config_file = home.root.join("config.toml");
        let config = Config::load(&config_file)?;
        let limits = config.metadata_limits(&config_file.display().to_string())?;
        home.shared = config.cache.shared.as_deref().map(|s| {
            crate::install::SharedLayer::parse(
                s,
                config.cache.shared_endpoint.as_deref(),
                config.cache.shared_region.as_deref(),
            )
        });
        let jax = crate::platform::Target::new(
            crate::jax::python(config.jax.python.as_deref()),
            home.python_state(),
        );
        let progress = build::progress_line(quiet, "Building");
        let bar = progress.clone();
        let size = build::size_limits(&config)?;
        let builds = crate::install::Builds {
            allowed: true,
            limits: size,
            progress: Some(std::sync::Arc::new(
                move |member: &str, v: usize, e: usize| {
                    bar.set_message(format!(
                        "{member}: {v} vertices, {e} edges (at most {} vertices)",
                        size.max_vertices
                    ));
                    bar.tick();
                },
            )),
        };
        Ok(Context {
            jax,
            limits,
            home,
            config,
            offline,
            quiet,
            builds,
            progress,
        })
    }

    /// Clears the progress line of builds, if one was shown.
    pub fn finish_progress(&self) {
        self.progress.finish_and_clear();
    }

    fn http_options(&self, token: Option<Token>) -> HttpOptions {
        let mut o = HttpOptions::from_env();
        if o.ca_bundle.is_none() {
            o.ca_bundle = self.config.http.ca_bundle.clone();
        }
        o.token = token;
        o.quiet = self.quiet;
        o.limits = self.limits;
        o
    }

    /// An HTTP client for requests outside any registry (no token).
    pub fn http(&self) -> Result<Http> {
        Ok(Http::new(self.http_options(None))?)
    }

    /// The canonical label of a registry argument: `default`, a configured name, a URL, or the
    /// absolute path of a directory.
    pub fn registry_label(&self, spec: Option<&str>) -> Result<String> {
        let spec = spec.unwrap_or(DEFAULT_REGISTRY);
        if spec == DEFAULT_REGISTRY || self.config.registries.contains_key(spec) {
            return Ok(spec.to_string());
        }
        let path = match crate::transport::Location::from_spec(spec, None, None) {
            crate::transport::Location::Http { url } => return Ok(url),
            crate::transport::Location::Dir { path } => path,
            _ => spec.to_string(),
        };
        let path = path.as_str();
        if Path::new(path).is_dir() {
            let abs = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
            return Ok(abs.display().to_string());
        }
        let known: Vec<&str> = std::iter::once(DEFAULT_REGISTRY)
            .chain(self.config.registries.keys().map(String::as_str))
            .collect();
        Err(Error::Usage(format!(
            "registry '{spec}' is neither a configured registry ({}; see {}), an http(s):// URL nor a directory",
            known.join(", "),
            self.home.root.join("config.toml").display()
        )))
    }

    /// Opens and verifies a registry (see [`Context::registry_label`] for what `spec` may be).
    pub async fn open(&self, spec: Option<&str>) -> Result<Opened> {
        let label = self.registry_label(spec)?;
        let (index, trust, token) = if label == DEFAULT_REGISTRY {
            (None, KeyTrust::Builtin, None)
        } else if let Some(r) = self.config.registries.get(&label) {
            let trust = if r.keys.is_empty() {
                KeyTrust::FirstUse
            } else {
                KeyTrust::Pinned(r.keys.clone())
            };
            (Some(r.index.clone()), trust, self.config.token(&label))
        } else {
            let token = std::env::var("PTD_REGISTRY_TOKEN")
                .ok()
                .filter(|t| !t.is_empty());
            (Some(label.clone()), KeyTrust::FirstUse, token)
        };
        let index_host = index
            .as_deref()
            .filter(|i| i.starts_with("http://") || i.starts_with("https://"))
            .and_then(host_of);
        let token_for = |hosts: &[String]| {
            token.clone().map(|value| Token {
                value,
                hosts: hosts.to_vec(),
            })
        };
        let mut hosts: Vec<String> = index_host.into_iter().collect();
        let index_http = Http::new(self.http_options(token_for(&hosts)))?;
        let source = match &index {
            None => IndexSource::Embedded,
            Some(i) => {
                IndexSource::from_spec(i, &self.home.index_cache(), &index_http, self.offline)
            }
        };
        let registry = Registry::open(
            source,
            trust,
            &self
                .home
                .registries()
                .join(crate::index::registry::state_id(&label)),
            std::time::SystemTime::now(),
        )
        .await?;
        // The token also goes to the registry's own artifact hosts, which its signed
        // config.json names; never to any other host, even on a redirect.
        for a in &registry.config.artifacts {
            if let Some(h) = host_of(&a.url().replace(['{', '}'], ""))
                && !hosts.contains(&h)
            {
                hosts.push(h);
            }
        }
        let http = Http::new(self.http_options(token_for(&hosts)))?;
        Ok(Opened {
            label,
            registry,
            http,
        })
    }
}
