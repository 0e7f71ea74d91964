//! `ferry pull`: one poll of a partner's server now, as the running server
//! does on its schedule, for operators (a first check of a new connector, a
//! pull outside the schedule) and for scripts.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::Stable;
use crate::poller::{PollMemory, poll_once};
use crate::tenant::PipelineLock;

#[derive(Args)]
pub struct PullArgs {
    #[arg(long)]
    tenant: String,
    /// The partner whose server is polled (it has `connector` and `pull`).
    partner: String,
}

pub fn pull(config: &Path, args: PullArgs) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    let tenant = super::tenant(&hub, &args.tenant)?;
    let partner = super::partner(&tenant, &args.partner)?;
    let pull = partner.pull.as_ref().ok_or_else(|| {
        anyhow::anyhow!("partner `{}` has no `pull` section to poll", args.partner)
    })?;
    // Two pollers of one source could fetch a file twice before either
    // records it: the pipeline lock's holder is the only poller.
    let Some(_lock) = PipelineLock::try_acquire(&hub.config().data_dir)? else {
        anyhow::bail!(
            "a running ferry server polls this source itself; this command is for when none runs"
        )
    };
    let mut memory = PollMemory::default();
    if pull.stable == Stable::Unchanged {
        // A file is stable when two listings agree: this one is the first.
        poll_once(&hub, &args.tenant, &partner, &mut memory).map_err(anyhow::Error::msg)?;
        std::thread::sleep(Duration::from_secs(1));
    }
    let polled =
        poll_once(&hub, &args.tenant, &partner, &mut memory).map_err(anyhow::Error::msg)?;
    for name in &polled.taken {
        println!("pulled {name}");
    }
    if polled.waiting > 0 {
        println!("{} file(s) not stable yet", polled.waiting);
    }
    for error in &polled.errors {
        eprintln!("not pulled: {error}");
    }
    hub.pipeline()?.drain()?;
    Ok(if polled.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
