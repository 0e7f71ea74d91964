//! `ferry dead` and `ferry retry`: the pipeline's dead letters, seen and
//! sent back.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use crate::pipeline::Transitions as _;

#[derive(Args)]
pub struct DeadArgs {
    #[arg(long)]
    tenant: String,
}

#[derive(Args)]
pub struct RetryArgs {
    #[arg(long)]
    tenant: String,
    /// The task's id, as `ferry dead` lists it.
    task: i64,
}

pub fn dead(config: &Path, args: DeadArgs) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    super::tenant(&hub, &args.tenant)?;
    let tasks = hub.journal().dead_tasks(&args.tenant)?;
    if tasks.is_empty() {
        println!("no dead-lettered tasks in {}", args.tenant);
    }
    for task in tasks {
        println!(
            "task {}\tmessage {}\t{}\t{} attempts\t{}",
            task.id,
            task.message,
            task.step,
            task.attempts,
            task.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn retry(config: &Path, args: RetryArgs) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    super::tenant(&hub, &args.tenant)?;
    anyhow::ensure!(
        hub.journal().revive_task(&args.tenant, args.task)?,
        "no dead-lettered task {} in tenant `{}` (see `ferry dead --tenant {}`)",
        args.task,
        args.tenant,
        args.tenant
    );
    // A running server's workers pick it up within their poll interval.
    println!("task {} is pending again", args.task);
    Ok(ExitCode::SUCCESS)
}
