use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};

use crate::journal::{Direction, MessageId, MessageQuery};

#[derive(Subcommand)]
pub enum JournalCommand {
    /// List messages, newest first.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        partner: Option<String>,
        /// `in`: what partners sent; `out`: what was made available to them.
        #[arg(long)]
        direction: Option<DirectionArg>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one message with every event of it and of the files made from it.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Recompute every tenant's hash chain and report the first break;
    /// with --since, prove that the journal extends an earlier checkpoint.
    Verify {
        #[arg(long)]
        tenant: Option<String>,
        /// A checkpoint (`/receipts/checkpoint.json`, or one `journal
        /// checkpoint` printed): prove nothing signed in it was rewritten since.
        #[arg(long)]
        since: Option<std::path::PathBuf>,
        /// With --since: write the consistency proof here (for `verify-proof`).
        #[arg(long, requires = "since")]
        out: Option<std::path::PathBuf>,
    },
    /// Sign each tenant's journal as it is now (a checkpoint) and print it.
    Checkpoint {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Print the public key checkpoints are signed with, for partners to keep.
    Key,
    /// What a partner's folder held at a past instant, from the journal
    /// alone, with the events that made it (and their proof with --proof).
    Listing {
        #[arg(long)]
        tenant: String,
        #[arg(long = "as")]
        partner: String,
        /// `/inbox`, `/outbox`, or a folder below one.
        folder: String,
        /// The instant, RFC 3339 (such as 2026-12-01T09:00:00Z).
        #[arg(long)]
        at: String,
        /// Write the proof of those events here (for `verify-proof`).
        #[arg(long)]
        proof: Option<std::path::PathBuf>,
    },
    /// Print the proof of the events about one of a partner's files (what
    /// the partner downloads as /receipts/proofs/NAME.json).
    Proof {
        #[arg(long)]
        tenant: String,
        #[arg(long = "as")]
        partner: String,
        name: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DirectionArg {
    In,
    Out,
}

pub fn run(config: &Path, command: JournalCommand) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    let journal = hub.journal();
    let mut out = std::io::stdout().lock();
    match command {
        JournalCommand::List {
            tenant,
            partner,
            direction,
            limit,
            json,
        } => {
            let messages = journal.messages(&MessageQuery {
                id: None,
                tenant,
                partner,
                direction: direction.map(|d| match d {
                    DirectionArg::In => Direction::In,
                    DirectionArg::Out => Direction::Out,
                }),
                limit: Some(limit),
                ..MessageQuery::default()
            })?;
            for m in messages {
                if json {
                    writeln!(out, "{}", serde_json::to_string(&m)?)?;
                } else {
                    let hash = m.hash.map(|h| h.to_string()).unwrap_or_else(|| "-".into());
                    writeln!(
                        out,
                        "{:>6}  {}  {}/{}  {:<3}  {:<11}  {:>12}  {}  {}",
                        m.id,
                        m.created_at,
                        m.tenant,
                        m.partner,
                        m.direction.as_str(),
                        m.state,
                        m.size,
                        &hash[..hash.len().min(16)],
                        m.name
                    )?;
                }
            }
        }
        JournalCommand::Show { id, json } => {
            let message = journal
                .messages(&MessageQuery {
                    id: Some(MessageId(id)),
                    ..MessageQuery::default()
                })?
                .pop()
                .with_context(|| format!("no message {id}"))?;
            let events = journal.message_events(&message.tenant, message.id)?;
            if json {
                let value = serde_json::json!({ "message": message, "events": events });
                writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
            } else {
                writeln!(
                    out,
                    "message {} of {}/{}",
                    message.id, message.tenant, message.partner
                )?;
                writeln!(out, "  name:      {}", message.name)?;
                writeln!(out, "  direction: {}", message.direction.as_str())?;
                writeln!(out, "  size:      {}", message.size)?;
                if let Some(hash) = message.hash {
                    writeln!(out, "  sha256:    {hash}")?;
                }
                writeln!(out, "  state:     {}", message.state)?;
                if let Some(reason) = &message.reason {
                    writeln!(out, "  reason:    {reason}")?;
                }
                writeln!(out, "  created:   {}", message.created_at)?;
                writeln!(out, "events:")?;
                for e in events {
                    writeln!(
                        out,
                        "  #{:<6} {}  {:<14} msg {:<6} {}",
                        e.seq,
                        e.at,
                        e.kind,
                        e.message.map(|m| m.to_string()).unwrap_or_default(),
                        e.detail
                    )?;
                }
            }
        }
        JournalCommand::Checkpoint { tenant } => return super::proofs::checkpoint(&hub, tenant),
        JournalCommand::Key => return super::proofs::key(&hub),
        JournalCommand::Listing {
            tenant,
            partner,
            folder,
            at,
            proof,
        } => {
            return super::proofs::listing(&hub, &tenant, &partner, &folder, &at, proof.as_deref());
        }
        JournalCommand::Proof {
            tenant,
            partner,
            name,
        } => return super::proofs::proof(&hub, &tenant, &partner, &name),
        JournalCommand::Verify {
            since: Some(since),
            out: file,
            ..
        } => return super::proofs::since(&hub, &since, file.as_deref()),
        JournalCommand::Verify { tenant, .. } => {
            let tenants = match tenant {
                Some(tenant) => vec![tenant],
                None => journal.tenants()?,
            };
            let (mut broken, mut trees) = (Vec::new(), Vec::new());
            for tenant in tenants {
                let report = journal.verify(&tenant)?;
                if let Some(problem) = &report.problem {
                    writeln!(out, "{}: BROKEN: {problem}", report.tenant)?;
                    broken.push(report.tenant);
                    continue;
                }
                // The chain holds: then the tree built from it, and every
                // checkpoint handed out, must agree with it.
                match hub.notary().audit(&tenant) {
                    Ok(tree) => writeln!(
                        out,
                        "{}: ok, {} events, head {}; Merkle tree of {} events matches its {} checkpoint{}",
                        report.tenant,
                        report.events,
                        report.head,
                        tree.size,
                        tree.checkpoints,
                        if tree.checkpoints == 1 { "" } else { "s" }
                    )?,
                    Err(crate::proofs::ProofError::Invalid(problem)) => {
                        writeln!(out, "{}: BROKEN: {problem}", report.tenant)?;
                        trees.push(report.tenant);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if !broken.is_empty() {
                anyhow::bail!("the journal chain of {} is broken", broken.join(", "));
            }
            if !trees.is_empty() {
                anyhow::bail!(
                    "the Merkle tree or checkpoints of {} disagree with the events",
                    trees.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
