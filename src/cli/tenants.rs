//! `ferry tenants`: the tenants the nodes of a cluster share, brought in
//! from TOML files and written back out (`crate::settings`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Share the tenants of TOML files with every node: a tenant's own
    /// file (TENANT.toml, as in a tenants_dir) or a server file, whose
    /// [tenants.NAME] sections are taken. Each replaces the shared tenant
    /// of its name; its plugins go to the object store, its token,
    /// passwords and keys are sealed in the journal.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write the shared tenants as TENANT.toml files into a directory,
    /// with the plugins and secret files they name beside them (what
    /// `import` reads back).
    Export {
        /// Where to write; made when missing.
        #[arg(long)]
        out: PathBuf,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List the shared tenants with their revisions.
    List,
}

pub fn run(config: &Path, command: TenantsCommand) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    match command {
        TenantsCommand::Import { files } => {
            for file in files {
                for (tenant, revision) in hub.import_tenants(&file)? {
                    println!(
                        "{tenant}: shared from {} (revision {revision})",
                        file.display()
                    );
                }
            }
        }
        TenantsCommand::Export { out, tenant } => {
            let written = hub.export_tenants(&out, tenant.as_deref())?;
            if let Some(tenant) = tenant.filter(|_| written.is_empty()) {
                anyhow::bail!("no shared tenant `{tenant}`");
            }
            for tenant in written {
                println!(
                    "{}",
                    crate::config::shared::document_path(&out, &tenant).display()
                );
            }
        }
        TenantsCommand::List => {
            for tenant in hub.journal().shared_tenants()? {
                println!(
                    "{}\trevision {}\t{} by {}",
                    tenant.tenant, tenant.revision, tenant.updated_at, tenant.updated_by
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
