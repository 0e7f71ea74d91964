use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::tenant::PipelineLock;

#[derive(Args)]
pub struct PutArgs {
    /// The file to store; `-` reads standard input (then --name is required).
    file: PathBuf,
    #[arg(long)]
    tenant: String,
    /// The partner the file comes from.
    #[arg(long = "as", value_name = "PARTNER")]
    partner: String,
    /// The name in the partner's inbox (defaults to the file's name).
    #[arg(long)]
    name: Option<String>,
}

pub fn put(config: &Path, args: PutArgs) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    let tenant = super::tenant(&hub, &args.tenant)?;
    let from_stdin = args.file.as_os_str() == "-";
    let name = match (&args.name, from_stdin) {
        (Some(name), _) => name.clone(),
        (None, true) => anyhow::bail!("reading standard input needs --name"),
        (None, false) => args
            .file
            .file_name()
            .context("the file has no name; give one with --name")?
            .to_string_lossy()
            .into_owned(),
    };
    let (reader, size, source): (Box<dyn Read>, Option<u64>, String) = if from_stdin {
        (Box::new(std::io::stdin().lock()), None, "stdin".to_owned())
    } else {
        let file =
            File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size, args.file.display().to_string())
    };

    let bar = progress_bar(size);
    let ingested = tenant.ingest(&args.partner, &name, reader, "cli", &source, |n| {
        bar.set_position(n)
    });
    bar.finish_and_clear();
    let ingested = ingested.with_context(|| format!("storing {name}"))?;
    println!(
        "stored {name}: message {}, {} bytes, sha256 {}",
        ingested.message, ingested.committed.size, ingested.committed.hash
    );

    // The pipeline belongs to whoever holds the data directory's lock: a
    // running server picks the file up by itself; otherwise run it here.
    match PipelineLock::try_acquire(&hub.config().data_dir)? {
        Some(_lock) => {
            hub.pipeline()?.drain()?;
            let message = hub.journal().message(tenant.name(), ingested.message)?;
            match &message.reason {
                Some(reason) => println!("{}: {reason}", message.state),
                None => println!("{}", message.state),
            }
        }
        None => println!("queued: the running ferry server will process it"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal for files of a few MiB and more; nothing otherwise.
fn progress_bar(size: Option<u64>) -> ProgressBar {
    let interactive = std::io::stderr().is_terminal();
    match size {
        Some(size) if interactive && size >= 8 << 20 => {
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }
        None if interactive => ProgressBar::new_spinner(),
        _ => ProgressBar::hidden(),
    }
}
