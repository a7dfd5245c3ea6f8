//! `flashlayer init`: writes a development layer (layer.json, node keys, dev accounts) into a
//! directory, optionally deploying its contract on an L1.

use crate::{args::SettlementArgs, devnet};
use clap::Args;
use flashlayer_node::layer;
use std::path::PathBuf;

/// `flashlayer init`'s flags.
#[derive(Debug, Args)]
pub struct InitCommand {
    /// Directory to write into.
    #[arg(long)]
    dir: PathBuf,
    /// Number of validators.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// L2 chain id.
    #[arg(long, default_value_t = 13370)]
    chain_id: u64,
    /// Number of prefunded dev accounts.
    #[arg(long, default_value_t = 10)]
    accounts: u32,
    /// Settle on this L1 (JSON-RPC URL): deploys the layer contract there, funds the
    /// settlement keys and writes the layer's `l1` section.
    #[arg(long, value_name = "URL")]
    l1_rpc: Option<String>,
    /// Private key (hex) that deploys and funds on L1; anvil's first dev key by default.
    #[arg(long, value_name = "HEX")]
    l1_deployer_key: Option<String>,
    /// Block gas limit of the layer.
    #[arg(long, default_value_t = layer::DEV_GAS_LIMIT)]
    gas_limit: u64,
    /// Milliseconds between blocks while there are transactions.
    #[arg(long, default_value_t = layer::DEV_BLOCK_INTERVAL_MS)]
    block_interval_ms: u64,
    #[command(flatten)]
    settlement: SettlementArgs,
}

impl InitCommand {
    /// Writes the layer (and deploys it when an L1 is given).
    pub fn execute(self) -> eyre::Result<()> {
        let dir = &self.dir;
        let mut layer = devnet::init(
            dir,
            self.nodes,
            self.chain_id,
            self.accounts,
            self.gas_limit,
            self.block_interval_ms,
        )?;
        if let Some(rpc) = self.l1_rpc {
            let deployer = match self.l1_deployer_key {
                Some(key) => key.parse().map_err(|e| eyre::eyre!("--l1-deployer-key: {e}"))?,
                None => devnet::dev_accounts(1)?.remove(0).0,
            };
            super::runtime()?
                .block_on(devnet::attach_l1(&mut layer, &self.settlement.setup(rpc, deployer)))?;
            layer.save(&dir.join("layer.json"))?;
            let l1 = layer.l1.as_ref().expect("attached");
            println!("layer contract {} on L1 chain {}", l1.contract, l1.chain_id);
        }
        println!(
            "wrote {} (chain id {}, {} sequencer(s))",
            dir.join("layer.json").display(),
            layer.chain.chain_id,
            self.nodes
        );
        Ok(())
    }
}
