//! `ferry journal checkpoint|key|proof|verify --since` and `ferry
//! verify-proof`: the journal's signed checkpoints and the proofs cut from
//! them (`src/proofs`), made by the operator and checked by anyone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::journal::Checkpoint;
use crate::proofs::format::{self, Consistency, Proof};
use crate::secrets::journal_key;
use crate::tenant::Hub;

#[derive(Args)]
pub struct VerifyArgs {
    /// A proof (`/receipts/proofs/NAME.json`) or a consistency proof
    /// (`ferry journal verify --since CP --out FILE`).
    file: PathBuf,
    /// A file holding the key as `ferry journal key` prints it.
    #[arg(long)]
    key: PathBuf,
}

pub fn checkpoint(hub: &Hub, tenant: Option<String>) -> anyhow::Result<ExitCode> {
    let tenants = match tenant {
        Some(tenant) => vec![super::tenant(hub, &tenant)?.name().to_owned()],
        None => hub.journal().tenants()?,
    };
    for tenant in tenants {
        let checkpoint = hub.notary().checkpoint(&tenant)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "checkpoint": checkpoint }))?
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn key(hub: &Hub) -> anyhow::Result<ExitCode> {
    println!("{}", hub.notary().key().public_text());
    Ok(ExitCode::SUCCESS)
}

pub fn proof(hub: &Hub, tenant: &str, partner: &str, name: &str) -> anyhow::Result<ExitCode> {
    let tenant = super::tenant(hub, tenant)?;
    let bytes = tenant.receipt(partner, &format!("proofs/{name}.json"))?;
    use std::io::Write as _;
    std::io::stdout().write_all(&bytes)?;
    Ok(ExitCode::SUCCESS)
}

pub fn listing(
    hub: &Hub,
    tenant: &str,
    partner: &str,
    folder: &str,
    at: &str,
    proof: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use crate::journal::Mailbox;
    let tenant = super::tenant(hub, tenant)?;
    let time = humantime::parse_rfc3339_weak(at)
        .with_context(|| format!("`{at}` is not a time such as 2026-12-01T09:00:00Z"))?;
    let ms = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let trimmed = folder.trim_start_matches('/');
    let (box_name, below) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let mailbox = match box_name {
        "inbox" => Mailbox::Inbox,
        "outbox" => Mailbox::Outbox,
        _ => bail!("`{folder}` is not /inbox or /outbox (or a folder below one)"),
    };
    let crate::proofs::listing::Replay { listed, used, seen } = crate::proofs::listing::listing_at(
        hub.journal().as_ref(),
        tenant.name(),
        partner,
        mailbox,
        below,
        ms,
    )?;
    println!(
        "{partner}'s {folder} at {at}: {} file{}",
        listed.len(),
        if listed.len() == 1 { "" } else { "s" }
    );
    for file in &listed {
        println!(
            "{:>12}  {}  {}  (event {})",
            file.size
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            file.sha256.as_deref().unwrap_or("-"),
            file.name,
            file.seq
        );
    }
    if let Some(seen) = &seen {
        println!(
            "{partner} last listed it before then at {} over {}: {} file{} (event {}, digest {})",
            crate::journal::Timestamp(seen.at),
            seen.protocol,
            seen.files,
            if seen.files == 1 { "" } else { "s" },
            seen.seq,
            seen.digest
        );
    }
    if let Some(path) = proof {
        if used.is_empty() {
            bail!("no event of {partner}'s {folder} before {at}: nothing to prove");
        }
        let subject = crate::proofs::Subject {
            partner: partner.to_owned(),
            name: format!("{folder} as of {at}"),
            sha256: None,
        };
        let proof = hub.notary().prove(tenant.name(), subject, &used)?;
        std::fs::write(path, serde_json::to_vec_pretty(&proof)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!(
            "the proof of the {} events that made it: {}",
            used.len(),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A checkpoint from a file: the object itself, or `{"checkpoint": ...}`
/// as `/receipts/checkpoint.json` and `journal checkpoint` give it.
fn read_checkpoint(path: &Path) -> anyhow::Result<Checkpoint> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let inner = value.get("checkpoint").cloned().unwrap_or(value);
    serde_json::from_value(inner).with_context(|| format!("{}: not a checkpoint", path.display()))
}

pub fn since(hub: &Hub, earlier: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let earlier = read_checkpoint(earlier)?;
    let public = hub.notary().key().public();
    format::verify_checkpoint(&earlier, &public).map_err(anyhow::Error::msg)?;
    // The events themselves first: the tree is built from their hashes.
    let report = hub.journal().verify(&earlier.tenant)?;
    if let Some(problem) = report.problem {
        bail!("{}: BROKEN: {problem}", earlier.tenant);
    }
    let proof = hub.notary().consistency(&earlier)?;
    match format::verify_consistency(&proof, &public) {
        Ok(said) => println!("{said}"),
        Err(why) => bail!("{why}"),
    }
    if let Some(out) = out {
        std::fs::write(out, serde_json::to_vec_pretty(&proof)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let key_text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let public = journal_key::parse_public(&key_text)
        .map_err(|why| anyhow::anyhow!("{}: {why}", args.key.display()))?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON", args.file.display()))?;
    let file = args.file.display();
    let outcome = match value.get("format").and_then(|f| f.as_str()) {
        Some(format::PROOF_FORMAT) => {
            let proof: Proof = serde_json::from_value(value)
                .with_context(|| format!("{file}: not a {} file", format::PROOF_FORMAT))?;
            format::verify_proof(&proof, &public).map(|lines| {
                let n = lines.len();
                let mut said = lines.join("\n");
                said.push_str(&format!(
                    "\nok: {n} event{} proven",
                    if n == 1 { "" } else { "s" }
                ));
                said
            })
        }
        Some(format::CONSISTENCY_FORMAT) => {
            let proof: Consistency = serde_json::from_value(value)
                .with_context(|| format!("{file}: not a {} file", format::CONSISTENCY_FORMAT))?;
            format::verify_consistency(&proof, &public)
        }
        other => bail!(
            "{file}: not a proof (format {other:?}; expected {} or {})",
            format::PROOF_FORMAT,
            format::CONSISTENCY_FORMAT
        ),
    };
    match outcome {
        Ok(said) => {
            println!("{said}");
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("NOT VERIFIED: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}
