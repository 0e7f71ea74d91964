use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::tenant::MailboxPath;

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
    /// `/inbox/NAME` or `/outbox/NAME`.
    path: String,
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
    let MailboxPath::File(mailbox, name) = MailboxPath::parse(&args.path)? else {
        anyhow::bail!("`{}` is not a file path such as /outbox/NAME", args.path);
    };
    let (_, mut blob) = tenant.open(&args.partner, mailbox, &name)?;
    let mut out = std::io::stdout().lock();
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
