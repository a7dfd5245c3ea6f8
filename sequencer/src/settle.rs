//! Settlement in the node: the L1 watcher as consensus's L1 view, and the settlement service
//! fed by executed blocks and by the other validators' signatures (see the settlement crate).

use crate::layer::LayerDescription;
use alloy::{
    primitives::B256,
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use eyre::Context;
use flashlayer_consensus::{ExecutedRecord, L1View};
use flashlayer_execution::{BlockExecutor, Deposit, ExecutedBlock, L1Origin, MembershipChange};
use flashlayer_settlement::{
    chain::BatchRules,
    service::{Gossip, Settlement, SettlementConfig},
    watcher::{L1Watcher, WatcherConfig},
};
use flashlayer_storage::Db;
use std::{sync::Arc, time::Duration};
use tokio::sync::broadcast;

/// Consensus's view of the L1: the watcher's, or none on a layer without settlement.
#[derive(Debug, Clone)]
pub struct NodeL1 {
    watcher: Option<L1Watcher>,
    db: Db,
}

impl NodeL1 {
    /// The view through `watcher` (`None`: the layer has no L1), with executed records in `db`.
    pub fn new(watcher: Option<L1Watcher>, db: Db) -> Self {
        Self { watcher, db }
    }
}

impl L1View for NodeL1 {
    fn next_deposits(&self, after_nonce: u64, max: usize, highest: u64) -> (L1Origin, Vec<Deposit>) {
        match &self.watcher {
            Some(watcher) => watcher.next_deposits(after_nonce, max, highest),
            None => flashlayer_consensus::NoL1.next_deposits(after_nonce, max, highest),
        }
    }

    fn verify(&self, origin: &L1Origin, deposits: &[Deposit]) -> Result<(), String> {
        match &self.watcher {
            Some(watcher) => watcher.verify(origin, deposits),
            None => flashlayer_consensus::NoL1.verify(origin, deposits),
        }
    }

    fn closed_at(&self) -> Option<u64> {
        self.watcher.as_ref().and_then(L1Watcher::closed_at)
    }

    fn next_membership(&self, after_nonce: u64, origin: &L1Origin) -> Option<MembershipChange> {
        self.watcher.as_ref()?.next_membership(after_nonce, origin)
    }

    fn verify_membership(&self, origin: &L1Origin, change: &MembershipChange) -> Result<(), String> {
        match &self.watcher {
            Some(watcher) => watcher.verify_membership(origin, change),
            None => flashlayer_consensus::NoL1.verify_membership(origin, change),
        }
    }

    fn executed_record(&self, number: u64) -> Option<ExecutedRecord> {
        let record = BlockExecutor::settlement_of(&self.db, number).ok()?;
        Some(ExecutedRecord {
            last_deposit_nonce: record.last_deposit_nonce,
            l1_origin: record.l1_origin,
            ended: record.ended_at != 0,
            last_membership_nonce: record.last_membership_nonce,
        })
    }
}

/// Why the layer's contract cannot be checked against the layer description, or what differs.
#[derive(Debug)]
pub enum ContractCheck {
    /// The L1 could not be read (the check is worth retrying).
    Unreachable(String),
    /// The contract does not back this layer description: names the field.
    Mismatch(String),
}

/// Checks that the contract in `layer.l1` backs this layer description: the genesis block hash
/// (`genesis_hash`, this node's block 0), the ETH locked for the genesis balances, and the
/// initial signer set (addresses, threshold, and each member's consensus key). An owner could
/// otherwise hand operators a genesis or a set that the contract does not back, and the node
/// would sign batches for a layer whose balances nobody can claim.
pub async fn check_contract(
    layer: &LayerDescription,
    l1_rpc: &str,
    genesis_hash: B256,
    genesis_state_root: B256,
) -> Result<(), ContractCheck> {
    use alloy::{primitives::U256, rpc::types::Filter, sol_types::SolEvent};
    use flashlayer_settlement::bindings::FlashLayer;
    let Some(l1) = &layer.l1 else { return Ok(()) };
    let unreachable = |e: &dyn std::fmt::Display| ContractCheck::Unreachable(e.to_string());
    let url =
        l1_rpc.parse().map_err(|e| ContractCheck::Unreachable(format!("L1 RPC URL {l1_rpc:?}: {e}")))?;
    let provider = ProviderBuilder::new().connect_http(url);
    let chain_id = provider.get_chain_id().await.map_err(|e| unreachable(&e))?;
    if chain_id != l1.chain_id {
        return Err(ContractCheck::Mismatch(format!(
            "l1.chain_id: the layer settles on L1 chain {}, the L1 at {l1_rpc} is chain {chain_id}",
            l1.chain_id
        )));
    }
    let code = provider.get_code_at(l1.contract).await.map_err(|e| unreachable(&e))?;
    if code.is_empty() {
        return Err(ContractCheck::Mismatch(format!(
            "l1.contract: no contract at {} on the L1",
            l1.contract
        )));
    }
    let contract = FlashLayer::new(l1.contract, provider.clone());
    let supply: U256 =
        layer.chain.genesis_supply().map_err(|e| ContractCheck::Mismatch(format!("genesis alloc: {e}")))?;
    let locked = contract.genesisSupply().call().await.map_err(|e| unreachable(&e))?;
    if locked != supply {
        return Err(ContractCheck::Mismatch(format!(
            "genesisSupply: the contract backs {locked} wei of genesis balances, this layer description allocates {supply} wei"
        )));
    }
    let on_l1 = contract.genesisBlockHash().call().await.map_err(|e| unreachable(&e))?;
    if on_l1 != genesis_hash {
        return Err(ContractCheck::Mismatch(format!(
            "genesisBlockHash: the contract anchors the layer at {on_l1}, this layer description's genesis block is {genesis_hash}"
        )));
    }
    // The state an escape before the first good batch pays from: the owner supplied it at
    // creation and nothing on L1 can check it, so every operator does.
    let genesis_record = contract.batch(0).call().await.map_err(|e| unreachable(&e))?;
    if genesis_record.stateRoot.is_zero() {
        tracing::warn!(
            "the layer contract predates disputes and the escape (no genesis state root): users of this layer have no escape if the committee fails"
        );
    } else if genesis_record.stateRoot != genesis_state_root {
        return Err(ContractCheck::Mismatch(format!(
            "genesis state root: the contract's escape pays from state {}, this layer description's genesis state is {genesis_state_root}{}",
            genesis_record.stateRoot,
            if genesis_record.stateRoot.is_zero() {
                " (a contract from before disputes and the escape: create the layer again)"
            } else {
                ""
            }
        )));
    }
    let escape = !genesis_record.stateRoot.is_zero();
    if escape {
        // Whatever the description says, a grace shorter than a few batch intervals would
        // open the escape on this live layer.
        let grace = contract.gracePeriod().call().await.map_err(|e| unreachable(&e))?;
        let min_grace = 4 * (l1.batch_interval_secs + l1.submit_timeout_secs);
        if grace < min_grace {
            return Err(ContractCheck::Mismatch(format!(
                "gracePeriod: the contract opens the escape after {grace} s without a batch, shorter than four batch intervals and submitter timeouts ({min_grace} s): a live layer would be cut off"
            )));
        }
    }
    if escape && l1.grace_period_secs != 0 {
        let grace = contract.gracePeriod().call().await.map_err(|e| unreachable(&e))?;
        if grace != l1.grace_period_secs {
            return Err(ContractCheck::Mismatch(format!(
                "gracePeriod: the contract opens the escape {grace} s without a final batch, this layer description says {} s",
                l1.grace_period_secs
            )));
        }
    }
    let mut watchers =
        if escape { contract.watchers().call().await.map_err(|e| unreachable(&e))? } else { Vec::new() };
    let mut described = l1.watchers.clone();
    watchers.sort();
    described.sort();
    if escape && watchers != described {
        return Err(ContractCheck::Mismatch(format!(
            "watchers: the contract lets {watchers:?} dispute batches, this layer description names {described:?}"
        )));
    }
    let mode = contract.dataAvailability().call().await.map_err(|e| unreachable(&e))?;
    if flashlayer_settlement::data::DataAvailability::from_contract_mode(mode) != Some(l1.data_availability) {
        return Err(ContractCheck::Mismatch(format!(
            "dataAvailability: the contract's mode is {mode}, this layer description says {} ({})",
            l1.data_availability,
            l1.data_availability.contract_mode()
        )));
    }
    // The set the contract was created with: its epoch-0 SignerSetUpdated, in the deployment.
    let filter = Filter::new()
        .address(l1.contract)
        .event_signature(FlashLayer::SignerSetUpdated::SIGNATURE_HASH)
        .topic1(B256::ZERO)
        .from_block(l1.deployed_at)
        .to_block(l1.deployed_at);
    let logs = provider.get_logs(&filter).await.map_err(|e| unreachable(&e))?;
    let initial = logs
        .iter()
        .find_map(|log| FlashLayer::SignerSetUpdated::decode_log(&log.inner).ok())
        .ok_or_else(|| {
            ContractCheck::Mismatch(format!(
                "l1.deployed_at: no initial signer set (SignerSetUpdated, epoch 0) in L1 block {}",
                l1.deployed_at
            ))
        })?;
    let mut members: Vec<_> = layer.sequencers.iter().map(|s| s.settlement_address).collect();
    members.sort();
    if initial.signers != members || initial.threshold != U256::from(l1.threshold) {
        return Err(ContractCheck::Mismatch(format!(
            "signers: the contract was created with {:?} (threshold {}), this layer description has {:?} (threshold {})",
            initial.signers, initial.threshold, members, l1.threshold
        )));
    }
    for sequencer in &layer.sequencers {
        let key =
            sequencer.verifying_key().map_err(|e| ContractCheck::Mismatch(format!("sequencers: {e}")))?;
        let key = B256::from(key.to_bytes());
        let owner = contract.operatorOfKey(key).call().await.map_err(|e| unreachable(&e))?;
        if owner != sequencer.settlement_address {
            return Err(ContractCheck::Mismatch(format!(
                "consensus_key: the contract gives key {key} to {owner}, this layer description to {}",
                sequencer.settlement_address
            )));
        }
    }
    Ok(())
}

/// Starts the L1 watcher of a layer that settles on L1 (it polls from now on, so that the
/// first proposals already see deposits).
pub fn start_watcher(layer: &LayerDescription, l1_rpc: &str) -> eyre::Result<Option<L1Watcher>> {
    let Some(l1) = &layer.l1 else { return Ok(None) };
    let url = l1_rpc.parse().wrap_err_with(|| format!("L1 RPC URL {l1_rpc:?}"))?;
    let provider = ProviderBuilder::new().connect_http(url).erased();
    Ok(Some(L1Watcher::spawn(
        provider,
        WatcherConfig {
            contract: l1.contract,
            deployed_at: l1.deployed_at,
            confirmations: l1.confirmations,
            poll: Duration::from_millis(500),
            initial_keys: layer
                .sequencers
                .iter()
                .filter_map(|s| Some((s.settlement_address, B256::from(s.verifying_key().ok()?.to_bytes()))))
                .collect(),
        },
    )))
}

/// Starts the settlement service: it derives batches as blocks execute (starting with those
/// already executed), signs them with `key` (`None` on a full node, which only follows) and
/// submits quorum-signed ones.
pub fn start_service(
    layer: &LayerDescription,
    key: Option<PrivateKeySigner>,
    l1_rpc: &str,
    watcher: L1Watcher,
    db: Db,
    blocks: &broadcast::Sender<Arc<ExecutedBlock>>,
    gossip: Gossip,
) -> eyre::Result<Settlement> {
    let l1 = layer.l1.as_ref().ok_or_else(|| eyre::eyre!("the layer has no l1 section"))?;
    let mut members: Vec<_> = layer.sequencers.iter().map(|s| s.settlement_address).collect();
    members.sort();
    let config = SettlementConfig {
        rules: BatchRules {
            blocks: l1.batch_blocks,
            interval_secs: l1.batch_interval_secs,
            data_availability: l1.data_availability,
        },
        l1_chain_id: l1.chain_id,
        contract: l1.contract,
        l1_rpc: l1_rpc.to_string(),
        members,
        threshold: l1.threshold,
        key,
        submit_timeout: Duration::from_secs(l1.submit_timeout_secs),
    };
    let service = Settlement::new(config, watcher, db.clone(), gossip);
    let mut executed = blocks.subscribe();
    let feeder = service.clone();
    tokio::spawn(async move {
        let head = db.head_number().ok().flatten().unwrap_or_default();
        let catch_up = feeder.clone();
        let _ = tokio::task::spawn_blocking(move || catch_up.on_executed(head)).await;
        loop {
            let head = match executed.recv().await {
                Ok(block) => block.block.header.number,
                // Lagged: the next block tells the head; the chain reads what it missed.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            };
            let service = feeder.clone();
            let _ = tokio::task::spawn_blocking(move || service.on_executed(head)).await;
        }
    });
    tokio::spawn(service.clone().run());
    Ok(service)
}
