//! `flashlayer status`: where a layer stands (phase, heights, the three finality tiers, peers,
//! sequencer set, batches, time left), from a node's `flash_status`, or from the L1 alone once
//! no node answers (a disposed layer lives on only there).

use clap::Args;
use flashlayer_node::layer::LayerDescription;
use std::path::PathBuf;

/// `flashlayer status`'s flags.
#[derive(Debug, Args)]
pub struct StatusCommand {
    /// A node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// Print flash_status as JSON.
    #[arg(long)]
    json: bool,
    /// The layer description: with --l1-rpc, report from the L1 when no node answers.
    #[arg(long, requires = "l1_rpc")]
    layer: Option<PathBuf>,
    /// L1 JSON-RPC URL (with --layer).
    #[arg(long, requires = "layer")]
    l1_rpc: Option<String>,
}

impl StatusCommand {
    /// Prints the status.
    pub fn execute(self) -> eyre::Result<()> {
        let layer = self.layer.map(|path| LayerDescription::load(&path)).transpose()?;
        super::runtime()?.block_on(print_status(&self.rpc, self.json, layer.as_ref(), self.l1_rpc.as_deref()))
    }
}

/// What the L1 says about a layer whose nodes may be gone.
async fn print_l1_status(layer: &LayerDescription, l1_rpc: &str, node_error: &str) -> eyre::Result<()> {
    use alloy::providers::{Provider, ProviderBuilder};
    use eyre::Context;
    let l1 = layer.l1.as_ref().ok_or_else(|| eyre::eyre!("the layer does not settle on L1"))?;
    let url = l1_rpc.parse().wrap_err_with(|| format!("L1 RPC URL {l1_rpc:?}"))?;
    let provider = ProviderBuilder::new().connect_http(url);
    let contract = flashlayer_settlement::bindings::FlashLayer::new(l1.contract, provider.clone());
    let settled = contract
        .settled()
        .call()
        .await
        .wrap_err_with(|| format!("reading the layer contract at {l1_rpc}"))?;
    let closed_at = contract.closedAt().call().await?;
    let closing = closed_at != 0 || contract.isClosing().call().await?;
    let last = contract.lastBatchIndex().call().await?;
    let last_block = contract.lastBlock().call().await?;
    let held = provider.get_balance(l1.contract).await?;
    let phase = match (settled, closing) {
        (true, _) => "settled on L1; no node answers: disposed (or stopped)",
        (false, true) => "closing on L1; no node answers: the final batch is not accepted yet",
        (false, false) => "live on L1, but no node answers",
    };
    println!("layer {:?} (chain {}) is {phase}", layer.name, layer.chain.chain_id);
    println!("  node               {node_error}");
    println!("  contract           {} on L1 chain {}", l1.contract, l1.chain_id);
    println!("  batches accepted   {last} (L2 blocks up to {last_block})");
    if closed_at != 0 {
        println!("  closed by owner    at L1 block {closed_at}");
    }
    if settled {
        println!("  balances root      {}", contract.balancesRoot().call().await?);
    }
    let disputed_from = contract.disputedFrom().call().await?;
    let escape = contract.escapeStatus().call().await?;
    println!("{}", recourse_lines(disputed_from, escape.open, escape.index, escape.opensAt.saturating_to()));
    if disputed_from != 0 {
        println!("  disputed by        {}", contract.disputedBy().call().await?);
    }
    let watchers = contract.watchers().call().await?;
    println!(
        "  watchers           {}",
        if watchers.is_empty() {
            "none (nobody can dispute a batch)".to_string()
        } else {
            watchers.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(", ")
        }
    );
    println!(
        "  still held         {} ETH (unclaimed balances, unrelayed messages, refundable deposits)",
        alloy::primitives::utils::format_ether(held)
    );
    Ok(())
}

/// The dispute and escape lines of a status: whether a batch is disputed, and when (or whether)
/// accounts may escape without operators, against which batch.
fn recourse_lines(disputed_from: u64, open: bool, batch: u64, opens_at: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let dispute = match disputed_from {
        0 => "  disputes           none".to_string(),
        from => format!(
            "  disputes           batch {from} DISPUTED on L1: it and every later batch never pay out"
        ),
    };
    let escape = if open {
        format!("OPEN: accounts take their balance in batch {batch} (flashlayer claim --escape)")
    } else if opens_at == u64::MAX {
        "closed (the final batch landed undisputed: claim instead)".to_string()
    } else if disputed_from != 0 || opens_at <= now {
        format!("opens at {opens_at} (in {} s), against batch {batch}", opens_at.saturating_sub(now))
    } else {
        format!(
            "closed; opens at {opens_at} (in {} s, the grace deadline) unless batches keep landing and the final one lands in time",
            opens_at - now
        )
    };
    format!("{dispute}\n  escape             {escape}")
}

/// `flashlayer status`: asks the node at `rpc` for `flash_status` and prints it (as JSON with
/// `json`). When no node answers and the layer and its L1 are given, reports what the L1 says
/// (a disposed layer lives on only there).
pub async fn print_status(
    rpc: &str,
    json: bool,
    layer: Option<&LayerDescription>,
    l1_rpc: Option<&str>,
) -> eyre::Result<()> {
    use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
    let client =
        HttpClientBuilder::default().request_timeout(std::time::Duration::from_secs(10)).build(rpc)?;
    let status: serde_json::Value = match client.request("flash_status", rpc_params![]).await {
        Ok(status) => status,
        Err(e) => {
            let node_error = format!("{rpc}: {e}");
            return match (layer, l1_rpc) {
                (Some(layer), Some(l1)) => print_l1_status(layer, l1, &node_error).await,
                _ => Err(eyre::eyre!(
                    "{node_error} (is the node running? for a disposed layer pass --layer and --l1-rpc to ask the L1)"
                )),
            };
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    let v = |path: &str| status.pointer(path).cloned().unwrap_or(serde_json::Value::Null);
    let text = |path: &str| match v(path) {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    println!("layer (chain {}) is {}", text("/chainId"), text("/lifecycle/phase"));
    if let serde_json::Value::String(reason) = v("/lifecycle/closedReason") {
        println!("  closing because    {reason}");
    }
    if let Some(left) = v("/lifecycle/timeLeftSecs").as_u64() {
        println!(
            "  time left          {}m {:02}s (deadline {})",
            left / 60,
            left % 60,
            text("/lifecycle/endTime")
        );
    }
    if !v("/lifecycle/endBlock").is_null() {
        println!("  end block          {}", text("/lifecycle/endBlock"));
    }
    if !v("/lifecycle/endedAtBlock").is_null() {
        println!("  ended at block     {}", text("/lifecycle/endedAtBlock"));
    }
    println!(
        "  heights            executed {} · committed {} · view {}",
        text("/executedHeight"),
        text("/consensus/committedHeight"),
        text("/consensus/view")
    );
    let settlement = !v("/settlement").is_null();
    println!(
        "  finality           latest {} · safe (accepted on L1) {} · finalized (L1 finalized) {}",
        text("/executedHeight"),
        if settlement { text("/settlement/safeBlock") } else { "-".into() },
        if settlement { text("/settlement/finalizedBlock") } else { "-".into() },
    );
    let peers = v("/peers").as_array().map(Vec::len).unwrap_or_default();
    println!(
        "  peers              {peers} connected · role {} · syncing {}",
        text("/role"),
        text("/sync/syncing")
    );
    if let Some(set) = v("/sequencers").as_array() {
        println!("  sequencer set      {} member(s)", set.len());
        for s in set {
            println!(
                "    {}  {}",
                s.get("settlementAddress").and_then(|a| a.as_str()).unwrap_or("-"),
                s.get("consensusKey").and_then(|a| a.as_str()).unwrap_or("-")
            );
        }
    }
    if settlement {
        println!(
            "  batches            built {} · signed {} · submitted here {} · accepted on L1 {}",
            text("/settlement/lastBuiltBatch"),
            text("/settlement/lastSignedBatch"),
            text("/settlement/lastSubmittedBatch"),
            text("/settlement/lastAcceptedBatch")
        );
        if !v("/settlement/finalBatch").is_null() {
            println!(
                "  final batch        {} · settled {} · finalized on L1 {}",
                text("/settlement/finalBatch"),
                text("/settlement/settled"),
                text("/settlement/settledFinalized")
            );
        }
        if let serde_json::Value::String(e) = v("/settlement/l1Error") {
            println!("  L1 error           {e}");
        }
        println!(
            "{}",
            recourse_lines(
                v("/settlement/disputedFrom").as_u64().unwrap_or_default(),
                v("/settlement/escape/open").as_bool().unwrap_or_default(),
                v("/settlement/escape/batch").as_u64().unwrap_or_default(),
                v("/settlement/escape/opensAt").as_u64().unwrap_or(u64::MAX),
            )
        );
        if let serde_json::Value::Array(pending) = v("/settlement/pendingMembership") {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            for change in pending {
                let at = change.get("effectiveAt").and_then(|a| a.as_u64()).unwrap_or_default();
                let when =
                    if at > now { format!("applies in {} s (at {at})", at - now) } else { "due now".into() };
                println!(
                    "  pending change     #{} {} {} · {when}",
                    change.get("nonce").and_then(|n| n.as_u64()).unwrap_or_default(),
                    if change.get("joining").and_then(|j| j.as_bool()).unwrap_or_default() {
                        "join of"
                    } else {
                        "leave of"
                    },
                    change.get("operator").and_then(|o| o.as_str()).unwrap_or("-"),
                );
            }
        }
    }
    // txpool_status's shape: quantities in hex (`0x1a`); printed for people.
    let count = |path: &str| match v(path) {
        serde_json::Value::String(hex) => {
            u64::from_str_radix(hex.trim_start_matches("0x"), 16).map(|n| n.to_string()).unwrap_or(hex)
        }
        other => other.to_string(),
    };
    println!(
        "  mempool            {} pending · {} queued",
        count("/mempool/pending"),
        count("/mempool/queued")
    );
    Ok(())
}
