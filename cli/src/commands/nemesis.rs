//! `flashlayer nemesis`: faults under load on a fresh 4-node devnet with its anvil L1, then
//! the history check. The engine is [`crate::nemesis`].

use crate::{
    nemesis::{self, FaultKind, NemesisOptions},
    proxy::LinkFaults,
};
use clap::Args;
use std::{path::PathBuf, time::Duration};

/// `flashlayer nemesis`'s flags.
#[derive(Debug, Args)]
pub struct NemesisCommand {
    /// Work directory: the devnet goes to DIR/devnet (created fresh), reports to DIR.
    #[arg(long)]
    dir: PathBuf,
    /// Seconds of load; faults happen within them.
    #[arg(long, default_value_t = 120)]
    duration: u64,
    /// Seed of the fault schedule [default: random, printed].
    #[arg(long)]
    seed: Option<u64>,
    /// Replay this schedule (a schedule.json a run wrote) instead of drawing one.
    #[arg(long, conflicts_with = "seed")]
    schedule: Option<PathBuf>,
    /// Fault kinds to draw from (comma-separated): kill, pause, partition-halves,
    /// partition-one, kill-leader, l1-outage [default: all].
    #[arg(long, value_delimiter = ',')]
    faults: Vec<FaultKind>,
    /// Transactions per second offered.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Sender accounts of the load.
    #[arg(long, default_value_t = 500)]
    senders: usize,
    /// The anvil binary for the L1 (scripts/env.sh puts the project's on PATH).
    #[arg(long, default_value = "anvil")]
    anvil: PathBuf,
    /// Round trip added between every pair of nodes (milliseconds; a delaying proxy per node).
    #[arg(long, default_value_t = 0)]
    link_rtt_ms: u64,
    /// Jitter added each way on every link (milliseconds).
    #[arg(long, default_value_t = 0)]
    link_jitter_ms: u64,
    /// Share of chunks lost on every link (each costs a 200 ms retransmission).
    #[arg(long, default_value_t = 0.0)]
    link_loss: f64,
}

impl NemesisCommand {
    /// Runs the nemesis; fails when the history check does.
    pub fn execute(self) -> eyre::Result<()> {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_writer(std::io::stderr)
            .init();
        eyre::ensure!((0.0..1.0).contains(&self.link_loss), "--link-loss must be in [0, 1)");
        let schedule = match &self.schedule {
            Some(path) => Some(
                serde_json::from_str(&std::fs::read_to_string(path)?)
                    .map_err(|e| eyre::eyre!("{}: not a schedule: {e}", path.display()))?,
            ),
            None => None,
        };
        let seed = self.seed.unwrap_or_else(rand_seed);
        let kinds = if self.faults.is_empty() {
            FaultKind::ALL.iter().map(|(k, _)| *k).collect()
        } else {
            self.faults
        };
        let link =
            (self.link_rtt_ms > 0 || self.link_jitter_ms > 0 || self.link_loss > 0.0).then_some(LinkFaults {
                rtt: Duration::from_millis(self.link_rtt_ms),
                jitter: Duration::from_millis(self.link_jitter_ms),
                loss: self.link_loss,
            });
        super::runtime()?.block_on(nemesis::run(NemesisOptions {
            dir: self.dir,
            duration: self.duration,
            seed,
            schedule,
            kinds,
            rate: self.rate,
            senders: self.senders,
            anvil: self.anvil,
            link,
        }))?;
        Ok(())
    }
}

/// A seed from the clock (printed, so the run can be replayed).
fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}
