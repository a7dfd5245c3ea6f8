//! The flashlayer load generator: floods any Ethereum JSON-RPC endpoint (a flashlayer node or
//! cluster, anvil, geth) and measures what it includes. It speaks plain `eth_*` over HTTP and
//! depends on alloy and the contracts' artifacts only, never on the node, so a load tester
//! builds it without RocksDB, revm or libp2p. `flashlayer loadgen` is its command line.
//!
//! A run has two phases. Set-up ([`setup`]) derives sender accounts from a mnemonic, funds
//! them from one faucet key, deploys the workload's contracts and signs every transaction of
//! the run ahead of time, so signing never limits the rate. The measured phase ([`run`]) sends
//! them in JSON-RPC batches, spread over the endpoints by sender, open-loop at a target rate or
//! as fast as accepted, while a head watcher learns inclusion from new blocks. The [`Report`]
//! counts submitted / accepted / rejected (by message) / included, and gives throughput and
//! submit-to-inclusion latency over time, written as `report.json` and `report.html`.
//!
//! Adversarial mode mixes invalid transactions (bad signature, nonce gap, oversized,
//! underpriced) from separate accounts in at a given ratio and counts them apart.

//! # Layout
//! - [`LoadgenConfig`] and [`run`]: the options of a run and the run itself (this file).
//! - `setup`: sender accounts from a mnemonic, faucet funding, contract deployment.
//! - `workload`: what is signed ([`Workload`]: ETH, ERC-20, NFT, mix; adversarial kinds).
//! - `run`: per-endpoint queues, JSON-RPC batch workers, the lock-free ledger, the head watcher.
//! - `rpc`: the few `eth_*` calls it needs, over jsonrpsee's HTTP and WebSocket clients.
//! - [`report`](Report): counts, throughput and latency per second; JSON and HTML with SVG charts.
//! - `progress`: the terminal progress display.

mod progress;
mod report;
mod rpc;
mod run;
mod setup;
mod workload;

pub use report::{Report, html};
pub use workload::Workload;

use alloy::primitives::{Address, U256};
use eyre::{Context, bail, ensure};
use rayon::prelude::*;
use rpc::Endpoint;
use run::{Class, Item, Plan};
use setup::{Account, Faucet};
use std::{fmt, path::PathBuf, str::FromStr, sync::Arc, time::Duration};
use workload::{Adversary, Kind, LoadNft, LoadToken, TxParams};

/// The mnemonic of anvil's and flashlayer devnets' prefunded dev accounts; the default faucet
/// (its first account) and the default source of sender accounts.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// Sender accounts of adversarial transactions (one per kind).
const ADVERSARIES: usize = Adversary::ALL.len();

/// A target rate: transactions per second, or as fast as the endpoints accept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub Option<f64>);

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Self(None));
        }
        match s.parse::<f64>() {
            Ok(r) if r > 0.0 && r.is_finite() => Ok(Self(Some(r))),
            _ => Err(format!("expected a positive number of transactions per second or \"max\", got {s:?}")),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("max"),
            Some(r) => write!(f, "{r}"),
        }
    }
}

/// The options of a run (the flags of `flashlayer loadgen`, which the errors name).
#[derive(Debug, Clone)]
pub struct LoadgenConfig {
    /// JSON-RPC endpoint (HTTP); repeat or comma-separate to spread senders over several
    /// nodes. Heads are watched on the first.
    pub rpc: Vec<String>,
    /// Transactions to send.
    pub workload: Workload,
    /// Target rate in transactions per second (open loop), or "max" for as fast as the
    /// endpoints accept.
    pub rate: Rate,
    /// Seconds to send for (30 unless --count is given).
    pub duration: Option<f64>,
    /// Transactions to send (default: rate x duration, or --max-rate x duration at "max").
    pub count: Option<u64>,
    /// The most transactions per second a "max" run can reach: how many are signed ahead.
    pub max_rate: u64,
    /// Sender accounts (round-robin: each sends every N-th transaction, nonces in order).
    pub senders: usize,
    /// Mnemonic the senders derive from (m/44'/60'/0'/0/i).
    pub mnemonic: String,
    /// BIP-44 index of the first sender (clear of wallets' usual first accounts).
    pub first_index: u32,
    /// Private key (hex) that funds the senders and deploys contracts [default: the first dev
    /// account, prefunded on flashlayer devnets and anvil].
    pub faucet_key: Option<String>,
    /// Transactions per JSON-RPC batch.
    pub batch_size: usize,
    /// Batches in flight per endpoint.
    pub concurrency: usize,
    /// Share of adversarial transactions (0 to 0.5): invalid signatures, nonce gaps, oversized
    /// and underpriced ones in turn, from their own accounts, counted apart.
    pub adversarial: f64,
    /// Fee cap in gwei [default: 10 x the current base fee + the tip].
    pub max_fee_gwei: Option<f64>,
    /// Priority fee in gwei.
    pub tip_gwei: f64,
    /// After sending, stop waiting for inclusions after this many seconds without one.
    pub drain_timeout: u64,
    /// Directory for report.json and report.html.
    pub out: PathBuf,
    /// Send a batch an endpoint fails to answer (down, frozen) to the next endpoint, and follow
    /// heads on another endpoint when the watched one fails: what a client of a cluster under
    /// faults does (`flashlayer nemesis`). Endpoints then answer within a few seconds or count
    /// as failed.
    pub failover: bool,
    /// An ERC-20 already on the chain for the `erc20` workload instead of a fresh `LoadToken`:
    /// it must have `LoadToken`'s `airdrop` (its code, say, in a genesis alloc) and the faucet
    /// must hold enough of it. A token with a million holders in its storage trie is how a
    /// layer's state-scale benchmark measures ERC-20 transfers.
    pub token: Option<Address>,
    /// Notified once setup and signing are done, as the first transaction is sent (a nemesis
    /// schedules its faults from then).
    pub started: Option<std::sync::Arc<tokio::sync::Notify>>,
}

impl LoadgenConfig {
    fn check(&self) -> eyre::Result<()> {
        ensure!(self.senders >= 1, "--senders must be at least 1");
        ensure!((1..=10_000).contains(&self.batch_size), "--batch-size must be 1 to 10000");
        ensure!(self.concurrency >= 1, "--concurrency must be at least 1");
        ensure!((0.0..=0.5).contains(&self.adversarial), "--adversarial must be between 0 and 0.5");
        ensure!(self.max_rate >= 1, "--max-rate must be at least 1");
        if let Some(d) = self.duration {
            ensure!(d > 0.0 && d.is_finite(), "--duration must be a positive number of seconds");
        }
        ensure!(self.count != Some(0), "--count must be at least 1");
        ensure!(self.tip_gwei >= 0.0, "--tip-gwei must not be negative");
        Ok(())
    }

    /// Honest transactions to sign, and when to stop sending.
    fn budget(&self) -> (u64, Option<Duration>) {
        let duration = match (self.duration, self.count) {
            (Some(d), _) => Some(d),
            (None, Some(_)) => None,
            (None, None) => Some(30.0),
        };
        let count = self.count.unwrap_or_else(|| {
            let secs = duration.unwrap_or(30.0);
            (secs * self.rate.0.unwrap_or(self.max_rate as f64)).ceil() as u64
        });
        (count.max(1), duration.map(Duration::from_secs_f64))
    }
}

fn gwei(g: f64) -> u128 {
    (g * 1e9).round() as u128
}

/// Runs the load generator: set-up, measured phase, report (printed, and written to
/// `args.out`).
pub async fn run(args: LoadgenConfig) -> eyre::Result<Report> {
    args.check()?;
    let timeout = if args.failover { Duration::from_secs(5) } else { Duration::from_secs(60) };
    let endpoints: Vec<Endpoint> =
        args.rpc.iter().map(|url| Endpoint::new(url, timeout)).collect::<eyre::Result<_>>()?;
    let chain_id = endpoints[0].chain_id().await?;
    for endpoint in &endpoints[1..] {
        let other = endpoint.chain_id().await?;
        ensure!(
            other == chain_id,
            "{} serves chain {other}, {} serves chain {chain_id}",
            endpoint.url,
            endpoints[0].url
        );
    }
    let main = &endpoints[0];
    let latest = main.latest_block().await?;
    let base_fee = latest.base_fee_per_gas.map(|b| b.to::<u128>()).unwrap_or_default();
    let tip = gwei(args.tip_gwei);
    let max_fee = match args.max_fee_gwei {
        Some(g) => gwei(g),
        None => 10 * base_fee + tip,
    };
    ensure!(max_fee >= tip, "--max-fee-gwei must be at least --tip-gwei");
    let (count, duration) = args.budget();
    eprintln!(
        "[loadgen] chain {chain_id} at block {}, base fee {base_fee} wei, gas limit {}: {} {} transactions \
         at rate {}{}",
        latest.number,
        latest.gas_limit,
        count,
        format!("{:?}", args.workload).to_lowercase(),
        args.rate,
        duration.map(|d| format!(" for up to {:.0} s", d.as_secs_f64())).unwrap_or_default()
    );

    let faucet_account = match &args.faucet_key {
        Some(hex) => {
            let signer: alloy::signers::local::PrivateKeySigner =
                hex.parse().map_err(|e| eyre::eyre!("--faucet-key: {e}"))?;
            Account { address: signer.address(), secret: signer.to_bytes() }
        }
        None => setup::derive(DEV_MNEMONIC, 0, 1)?[0],
    };
    let adversaries_n = if args.adversarial > 0.0 { ADVERSARIES } else { 0 };
    let accounts = setup::derive(&args.mnemonic, args.first_index, args.senders + adversaries_n)?;
    let (senders, adversaries) = accounts.split_at(args.senders);
    ensure!(
        !accounts.iter().any(|a| a.address == faucet_account.address),
        "the faucet is also one of the senders: choose another --first-index"
    );
    let sender_addresses: Vec<Address> = senders.iter().map(|a| a.address).collect();

    let mut faucet = Faucet::new(main, faucet_account, chain_id, max_fee, tip).await?;
    let mut params = TxParams {
        chain_id,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        token: None,
        nft: None,
        erc20_gas: 0,
        nft_gas: 0,
    };
    if args.workload.uses_token() {
        let token = faucet.token(main, &sender_addresses, args.token).await?;
        params.erc20_gas = setup::gas_for(
            main,
            senders[0].address,
            token,
            LoadToken::transferCall { to: senders[senders.len() - 1].address, value: U256::from(1) },
        )
        .await?;
        params.token = Some(token);
        eprintln!("[loadgen] LoadToken at {token}, transfer gas limit {}", params.erc20_gas);
    }
    if args.workload.uses_nft() {
        let nft = faucet.nft(main).await?;
        params.nft_gas = setup::gas_for(main, senders[0].address, nft, LoadNft::mintCall {}).await?;
        params.nft = Some(nft);
        eprintln!("[loadgen] LoadNft at {nft}, mint gas limit {}", params.nft_gas);
    }

    // Funding: each sender pays for its share at the fee cap.
    let per_sender = count.div_ceil(args.senders as u64);
    let max_gas = [Kind::Eth, Kind::Erc20, Kind::Nft]
        .into_iter()
        .filter(|k| (0..10).any(|i| args.workload.kind_at(i) == *k))
        .map(|k| params.gas_of(k))
        .max()
        .unwrap_or(21_000);
    let need =
        U256::from(per_sender) * (U256::from(max_gas) * U256::from(max_fee) + U256::from(1)) * U256::from(11)
            / U256::from(10)
            + U256::from(1);
    faucet.fund(main, &sender_addresses, need).await?;
    if !adversaries.is_empty() {
        let addresses: Vec<Address> = adversaries.iter().map(|a| a.address).collect();
        let need = U256::from(21_000u64) * U256::from(max_fee.max(1)) * U256::from(count / 10 + 10);
        faucet.fund(main, &addresses, need).await?;
    }
    let sender_nonces = main.nonces(&sender_addresses, "pending").await?;
    let adversary_nonces =
        main.nonces(&adversaries.iter().map(|a| a.address).collect::<Vec<_>>(), "pending").await?;

    // Sign everything ahead of the run.
    let items = Arc::new(presign(
        &args,
        count,
        &params,
        senders,
        &sender_nonces,
        adversaries,
        &adversary_nonces,
        endpoints.len(),
    ));
    let plan = Plan {
        rate: args.rate.0,
        duration,
        batch_size: args.batch_size,
        concurrency: args.concurrency,
        drain_timeout: Duration::from_secs(args.drain_timeout),
        failover: args.failover,
    };
    let started_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    if let Some(started) = &args.started {
        started.notify_one();
    }
    let outcome = run::execute(&endpoints, Arc::clone(&items), &plan).await?;
    let senders_report: Vec<(Address, u64)> = sender_addresses.iter().copied().zip(sender_nonces).collect();
    let report = report::Report::build(
        report::Context {
            endpoints: args.rpc.clone(),
            chain_id,
            workload: args.workload,
            rate: args.rate.0,
            started_at,
            senders: &senders_report,
            contracts: [("LoadToken", params.token), ("LoadNft", params.nft)]
                .into_iter()
                .filter_map(|(name, address)| Some((name.to_owned(), address?)))
                .collect(),
        },
        &items,
        &outcome,
    );
    print!("{}", report.summary());
    report.write(&args.out).wrap_err_with(|| format!("writing the report into {}", args.out.display()))?;
    println!(
        "report: {} and {}",
        args.out.join("report.json").display(),
        args.out.join("report.html").display()
    );
    if report.honest.included == 0 {
        bail!("no transaction of the run was included");
    }
    Ok(report)
}

/// What to sign for position `j` of the run.
enum Desc {
    Honest(u64),
    Adversarial(u64),
}

#[allow(clippy::too_many_arguments)]
fn presign(
    args: &LoadgenConfig,
    count: u64,
    params: &TxParams,
    senders: &[Account],
    sender_nonces: &[u64],
    adversaries: &[Account],
    adversary_nonces: &[u64],
    endpoints: usize,
) -> Vec<Item> {
    // One adversarial transaction after every `every` honest ones.
    let every = (args.adversarial > 0.0)
        .then(|| ((1.0 - args.adversarial) / args.adversarial).round().max(1.0) as u64);
    let mut descs = Vec::with_capacity(count as usize);
    let mut adversarial = 0;
    for k in 0..count {
        descs.push(Desc::Honest(k));
        if every.is_some_and(|e| (k + 1) % e == 0) {
            descs.push(Desc::Adversarial(adversarial));
            adversarial += 1;
        }
    }
    let bar = progress::bar(descs.len() as u64, "signing transactions");
    let n = senders.len() as u64;
    let items = descs
        .par_iter()
        .enumerate()
        .map(|(j, desc)| {
            if j % 1024 == 0 {
                bar.inc(1024);
            }
            match *desc {
                Desc::Honest(k) => {
                    let s = (k % n) as usize;
                    let kind = args.workload.kind_at(k);
                    let recipient = senders[(s + 1) % senders.len()].address;
                    let tx = params.honest(kind, &senders[s].secret, sender_nonces[s] + k / n, recipient);
                    Item { tx, endpoint: (s % endpoints) as u16, class: Class::Honest { sender: s as u32 } }
                }
                Desc::Adversarial(a) => {
                    let which = (a % ADVERSARIES as u64) as usize;
                    let kind = Adversary::ALL[which];
                    let nonce = adversary_nonces[which] + a / ADVERSARIES as u64;
                    let tx = params.adversarial(kind, &adversaries[which].secret, nonce, a);
                    Item { tx, endpoint: (a % endpoints as u64) as u16, class: Class::Adversarial(kind) }
                }
            }
        })
        .collect();
    bar.finish();
    items
}
