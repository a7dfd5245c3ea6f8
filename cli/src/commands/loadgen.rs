//! `flashlayer loadgen`: the command line of [`flashlayer_loadgen`].

use clap::{
    Args,
    builder::{PossibleValue, TypedValueParser},
};
use flashlayer_loadgen::{DEV_MNEMONIC, LoadgenConfig, Rate, Workload};
use std::path::PathBuf;

/// `flashlayer loadgen`'s flags (each is the [`LoadgenConfig`] field of the same name).
#[derive(Debug, Clone, Args)]
pub struct LoadgenCommand {
    /// JSON-RPC endpoint (HTTP); repeat or comma-separate to spread senders over several
    /// nodes. Heads are watched on the first.
    #[arg(long = "rpc", value_name = "URL", required = true, value_delimiter = ',')]
    rpc: Vec<String>,
    /// Transactions to send.
    #[arg(long, default_value = "eth", value_parser = workload_parser())]
    workload: Workload,
    /// Target rate in transactions per second (open loop), or "max" for as fast as the
    /// endpoints accept.
    #[arg(long, default_value = "max")]
    rate: Rate,
    /// Seconds to send for (30 unless --count is given).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Transactions to send (default: rate x duration, or --max-rate x duration at "max").
    #[arg(long)]
    count: Option<u64>,
    /// The most transactions per second a "max" run can reach: how many are signed ahead.
    #[arg(long, default_value_t = 25_000)]
    max_rate: u64,
    /// Sender accounts (round-robin: each sends every N-th transaction, nonces in order).
    #[arg(long, default_value_t = 500)]
    senders: usize,
    /// Mnemonic the senders derive from (m/44'/60'/0'/0/i).
    #[arg(long, default_value = DEV_MNEMONIC)]
    mnemonic: String,
    /// BIP-44 index of the first sender (clear of wallets' usual first accounts).
    #[arg(long, default_value_t = 1000)]
    first_index: u32,
    /// Private key (hex) that funds the senders and deploys contracts [default: the first dev
    /// account, prefunded on flashlayer devnets and anvil].
    #[arg(long, value_name = "HEX")]
    faucet_key: Option<String>,
    /// Transactions per JSON-RPC batch.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Batches in flight per endpoint.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Share of adversarial transactions (0 to 0.5): invalid signatures, nonce gaps, oversized
    /// and underpriced ones in turn, from their own accounts, counted apart.
    #[arg(long, default_value_t = 0.0)]
    adversarial: f64,
    /// Fee cap in gwei [default: 10 x the current base fee + the tip].
    #[arg(long, value_name = "GWEI")]
    max_fee_gwei: Option<f64>,
    /// Priority fee in gwei.
    #[arg(long, default_value_t = 1.0, value_name = "GWEI")]
    tip_gwei: f64,
    /// After sending, stop waiting for inclusions after this many seconds without one.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    drain_timeout: u64,
    /// Directory for report.json and report.html.
    #[arg(long, default_value = "loadgen-report")]
    out: PathBuf,
    /// Send what an endpoint fails to answer within 5 s (down, frozen) to the next endpoint,
    /// and follow heads on another one when the watched one fails.
    #[arg(long)]
    failover: bool,
    /// For `--workload erc20`: an ERC-20 already on the chain (with `LoadToken`'s `airdrop`,
    /// held by the faucet) instead of deploying a fresh one, such as a token with many holders
    /// placed in the genesis.
    #[arg(long, value_name = "ADDRESS")]
    token: Option<alloy::primitives::Address>,
}

/// `--workload`'s values with their help, as the load generator names them.
fn workload_parser() -> impl TypedValueParser<Value = Workload> {
    clap::builder::PossibleValuesParser::new(
        Workload::ALL.iter().map(|(_, name, help)| PossibleValue::new(*name).help(*help)),
    )
    .map(|name| name.parse::<Workload>().expect("one of Workload::ALL"))
}

impl LoadgenCommand {
    /// Runs the load generator; its progress display and report are the output.
    pub fn execute(self) -> eyre::Result<()> {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
        let config = LoadgenConfig {
            rpc: self.rpc,
            workload: self.workload,
            rate: self.rate,
            duration: self.duration,
            count: self.count,
            max_rate: self.max_rate,
            senders: self.senders,
            mnemonic: self.mnemonic,
            first_index: self.first_index,
            faucet_key: self.faucet_key,
            batch_size: self.batch_size,
            concurrency: self.concurrency,
            adversarial: self.adversarial,
            max_fee_gwei: self.max_fee_gwei,
            tip_gwei: self.tip_gwei,
            drain_timeout: self.drain_timeout,
            out: self.out,
            failover: self.failover,
            token: self.token,
            started: None,
        };
        super::runtime()?.block_on(flashlayer_loadgen::run(config))?;
        Ok(())
    }
}
