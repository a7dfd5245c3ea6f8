//! Starting a hotstuff_rs replica on a node's store.

use crate::{ConsensusNetwork, Error, FlashApp, FlashSchedule, Result, TxSource};
use ed25519_dalek::{SigningKey, VerifyingKey};
use flashlayer_storage::ConsensusStore;
use hotstuff_rs::{
    block_tree::pluggables::KVGet,
    pacemaker::select_leader,
    replica::{Configuration, Replica as HsReplica, ReplicaSpec},
    types::{
        data_types::{BufferSize, ChainID, EpochLength, Power},
        update_sets::AppStateUpdates,
        validator_set::{ValidatorSet, ValidatorSetState},
    },
};
use std::{sync::Arc, time::Duration};

/// A validator's consensus key.
pub type ValidatorKey = VerifyingKey;

/// Replica parameters.
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    /// HotStuff chain id (the L2 chain id): signatures of another layer do not verify here.
    pub chain_id: u64,
    /// The genesis validator set, each with voting power 1.
    pub validators: Vec<ValidatorKey>,
    /// Longest a view may last before validators time out and move on. Must exceed the
    /// empty-block interval, since the leader waits that long for transactions.
    pub max_view_time: Duration,
}

/// What consensus reports in `flash_status`.
#[derive(Debug, Clone, Default)]
pub struct ConsensusStatus {
    /// Highest view this replica entered.
    pub view: u64,
    /// Consensus height of the highest committed block.
    pub committed_height: Option<u64>,
    /// The committed validator set.
    pub validators: Vec<ValidatorKey>,
    /// Leader of the current view.
    pub leader: Option<ValidatorKey>,
    /// Validators the leader schedule currently rotates through (the others failed recently
    /// or have not voted; see [`crate::schedule`]).
    pub eligible_leaders: Vec<ValidatorKey>,
}

/// A running replica. Dropping it stops hotstuff_rs's threads.
pub struct Replica {
    _inner: HsReplica<ConsensusStore>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica").finish_non_exhaustive()
    }
}

impl Replica {
    /// Starts a replica, initialising the block tree with the genesis validator set if this
    /// store has never run one.
    pub fn start<S: TxSource>(
        me: SigningKey,
        config: ReplicaConfig,
        store: ConsensusStore,
        schedule: Arc<FlashSchedule>,
        app: FlashApp<S>,
        network: ConsensusNetwork,
    ) -> Result<Self> {
        if config.validators.is_empty() {
            return Err(Error::ValidatorSet("no validators".into()));
        }
        if store.committed_validator_set().is_err() {
            let mut set = ValidatorSet::new();
            for key in &config.validators {
                set.put(key, Power::new(1));
            }
            let state = ValidatorSetState::new(set.clone(), set, None, true);
            HsReplica::initialize(store.clone(), AppStateUpdates::new(), state);
            tracing::info!(validators = config.validators.len(), "initialised consensus block tree");
        }
        let configuration = Configuration::builder()
            .me(me)
            .chain_id(ChainID::new(config.chain_id))
            .block_sync_request_limit(64)
            .block_sync_server_advertise_time(Duration::from_secs(2))
            .block_sync_response_timeout(Duration::from_secs(3))
            .block_sync_blacklist_expiry_time(Duration::from_secs(10))
            .block_sync_trigger_min_view_difference(2)
            .block_sync_trigger_timeout(config.max_view_time * 2)
            .progress_msg_buffer_capacity(BufferSize::new(64 * 1024 * 1024))
            // hotstuff_rs schedules the view deadlines of an epoch from its start, and only an
            // epoch's last view needs a timeout certificate to end. Long epochs let a dead
            // leader's views end late (their slot in a schedule that fast views ran ahead of);
            // one-view epochs leave a restarted replica no way to climb back to the others'
            // view on its own. An epoch of one leader run (4 views, see the vendored patch)
            // bounds a dead leader's cost to its run and still lets laggards catch up.
            .epoch_length(EpochLength::new(hotstuff_rs::pacemaker::LEADER_RUN as u32))
            .max_view_time(config.max_view_time)
            // No event handlers and no event logging: either starts hotstuff_rs's event bus,
            // a thread that spins on try_recv without yielding.
            .log_events(false)
            .leader_schedule(schedule)
            .build();
        let inner = ReplicaSpec::builder()
            .app(app)
            .network(network)
            .kv_store(store.clone())
            .configuration(configuration)
            .build()
            .start();
        Ok(Self { _inner: inner })
    }
}

/// Current view, committed height and validator count, read from the block tree; the leader
/// (and who may lead) from `schedule` when this node runs a replica.
pub fn status(store: &ConsensusStore, schedule: Option<&FlashSchedule>) -> ConsensusStatus {
    use hotstuff_rs::pacemaker::LeaderSchedule;
    let view = store.highest_view_entered().ok();
    let set = store.committed_validator_set().ok().filter(|s| !s.is_empty());
    let leader = view.zip(set.as_ref()).map(|(v, s)| match schedule {
        Some(schedule) => schedule.leader(v, s),
        None => select_leader(v, s),
    });
    let eligible = match (view, set.as_ref(), schedule) {
        (Some(v), Some(s), Some(schedule)) => schedule.eligible(v.int(), s),
        _ => set.as_ref().map(|s| s.validators().copied().collect()).unwrap_or_default(),
    };
    ConsensusStatus {
        view: view.map(|v| v.int()).unwrap_or_default(),
        committed_height: crate::committed::committed_height(store).ok().flatten(),
        validators: set.as_ref().map(|s| s.validators().copied().collect()).unwrap_or_default(),
        leader,
        eligible_leaders: eligible,
    }
}
