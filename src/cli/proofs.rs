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
