//! `ptd cache sync`: copy, verified, what another ptd home has and this one lacks.

use super::super::output::{Out, Show, emit};
use crate::cli::Cx;
use ptd::Result;
use ptd::cache::transfer::SyncReport;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
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
}

impl Show for SyncReport {
    fn show(&self, out: &Out) {
        for i in &self.copied {
            out.status("Copied", &i.label());
        }
        for (v, why) in &self.failed {
            eprintln!("error: {v}: {why}");
        }
        out.status(
            "Synced",
            &format!(
                "{} copied, {} already here, {} failed",
                self.copied.len(),
                self.present,
                self.failed.len()
            ),
        );
    }
}

pub fn run(a: Args, cx: &Cx) -> Result<ExitCode> {
    let r = ptd::ops::cache::sync(
        &cx.ctx()?,
        &cx.rt,
        &a.from,
        a.s3_endpoint.as_deref(),
        a.s3_region.as_deref(),
    )?;
    emit(&cx.out, &r, a.json);
    Ok(if r.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
