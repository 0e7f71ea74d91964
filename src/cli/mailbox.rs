use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::tenant::{MailboxPath, Special};

#[derive(Args)]
pub struct LsArgs {
    #[arg(long)]
    tenant: String,
    /// Whose mailbox.
    #[arg(long = "as", value_name = "PARTNER")]
    partner: String,
    /// `/inbox` or `/outbox`.
    path: String,
}

#[derive(Args)]
pub struct CatArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long = "as", value_name = "PARTNER")]
    partner: String,
    /// `/inbox/NAME`, `/outbox/NAME`, or `/receipts/sent.csv` or `received.csv`.
    path: String,
}

#[derive(Args)]
pub struct ResendArgs {
    #[arg(long)]
    tenant: String,
    /// The partner whose outbox gets the file back.
    #[arg(long = "as", value_name = "PARTNER")]
    partner: String,
    /// The file's name, or its SHA-256.
    file: String,
}

pub fn resend(config: &Path, args: ResendArgs) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    let tenant = super::tenant(&hub, &args.tenant)?;
    let entry = tenant.resend(&args.partner, &args.file, "cli")?;
    println!(
        "resent {} ({}) to {}'s /outbox",
        entry.name, entry.hash, args.partner
    );
    Ok(ExitCode::SUCCESS)
}

pub fn ls(config: &Path, args: LsArgs) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    let tenant = super::tenant(&hub, &args.tenant)?;
    let MailboxPath::Folder(mailbox) = MailboxPath::parse(&args.path)? else {
        anyhow::bail!(
            "`{}` is not a folder: expected /inbox or /outbox",
            args.path
        );
    };
    let mut out = std::io::stdout().lock();
    for entry in tenant.list(&args.partner, mailbox)? {
        writeln!(
            out,
            "{:>12}  {}  {}  {}",
            entry.size, entry.created_at, entry.hash, entry.name
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn cat(config: &Path, args: CatArgs) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    let tenant = super::tenant(&hub, &args.tenant)?;
    let mut out = std::io::stdout().lock();
    let mut blob = match MailboxPath::parse(&args.path)? {
        MailboxPath::File(mailbox, name) => tenant.open(&args.partner, mailbox, &name)?.1,
        MailboxPath::SpecialFile(Special::Receipts, name) => {
            out.write_all(&tenant.receipt(&args.partner, &name)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => anyhow::bail!("`{}` is not a file path such as /outbox/NAME", args.path),
    };
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = blob.read(&mut buf).context("reading the file")?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
    }
    Ok(ExitCode::SUCCESS)
}
