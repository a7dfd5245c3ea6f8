//! Who leads each view: round robin over the validators, minus those the committed chain shows
//! failing (leader reputation).
//!
//! hotstuff_rs gives each leader a run of [`LEADER_RUN`] views. Upstream's schedule kept a dead
//! validator in the rotation, so a 4-node layer with one node down stalled for most of every
//! cycle. Here the leader of run `r` is taken, in round robin, from the validators that are
//! *eligible* at that run, judged from the committed chain:
//! - every block carries a [`LeaderRecord`] (its second datum): the view it was proposed in, its
//!   proposer, and the leaders of the runs its proposer saw skipped since its parent (runs that
//!   produced no block in this chain). Validators check the record before they vote, so the
//!   committed chain holds the agreed history of who led and who failed;
//! - a validator is **excluded** when, in the last [`WINDOW`] committed blocks, it was recorded
//!   skipped, or neither proposed nor voted (its signature in no certificate: dead or cut
//!   off); or when it was skipped [`REPEAT_OFFENCES`] times in the last [`HISTORY`] blocks (a
//!   Byzantine leader that votes but never proposes a valid block);
//! - the blocks that count are those proposed at least [`LAG_VIEWS`] views before the run, and
//!   reputation applies only while this replica has committed a block proposed within
//!   [`LAG_VIEWS`] views of the one in question: every replica that has is sure to have
//!   committed the blocks that count, so all compute the same leader. Otherwise (the chain
//!   stalls, or this replica lags) the leader is plain round robin, which needs no history, so
//!   replicas whose committed chains differ never disagree for long.
//!
//! A dead leader thus costs one view timeout (the pacemaker skips the rest of its run, see
//! `FLASHLAYER-PATCHES.md`), then no more while it stays down; a node that returns votes again,
//! and leads again once its skip is [`WINDOW`] blocks old. If every validator would be
//! excluded, all are eligible. Leader choice never affects safety: HotStuff is safe whoever
//! leads, and replicas that disagree on a leader only lose that view.
//!
//! [`Reputation`] is the plain state machine (unit tested); [`FlashSchedule`] feeds it from the
//! block tree and answers hotstuff_rs.

use alloy::primitives::{B256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use ed25519_dalek::VerifyingKey;
use flashlayer_storage::ConsensusStore;
use hotstuff_rs::{
    block_tree::pluggables::KVGet,
    pacemaker::{LEADER_RUN, LeaderSchedule},
    types::{
        data_types::{CryptoHash, ViewNumber},
        validator_set::ValidatorSet,
    },
};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Committed blocks whose skips and votes decide eligibility.
pub const WINDOW: usize = 64;
/// Committed blocks over which repeated skips are counted.
pub const HISTORY: usize = 1024;
/// Skips within [`HISTORY`] that exclude a validator for as long as they stay there.
pub const REPEAT_OFFENCES: usize = 2;
/// How many views before a run the blocks that decide its leader were proposed.
pub const LAG_VIEWS: u64 = 3 * LEADER_RUN;

/// The block datum that records its leader (index 1; the payload is index 0).
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct LeaderRecord {
    /// The view the block was proposed in.
    pub view: u64,
    /// The proposer's consensus key.
    pub proposer: B256,
    /// Leaders of the runs between the parent's and this block's that produced no block in
    /// this chain, sorted, without the proposer.
    pub skipped: Vec<B256>,
    /// The newest confirmed L1 block the proposer's watcher knew when it proposed: advice for
    /// later leaders, who name as origin only a block a quorum of validators has said it knows
    /// (see `FlashApp::origin_cap`). Not checked: a false claim moves the cap only as far as
    /// the quorum-th highest claim, and a refused origin still falls back on the origin backoff.
    pub l1_head: u64,
}

impl LeaderRecord {
    /// RLP encoding (the datum's bytes).
    pub fn encode(&self) -> Vec<u8> {
        alloy::rlp::encode(self)
    }

    /// Decodes a datum's bytes; the whole input must be one record.
    pub fn decode(mut bytes: &[u8]) -> Result<Self, alloy::rlp::Error> {
        let record = <Self as alloy::rlp::Decodable>::decode(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(alloy::rlp::Error::Custom("trailing bytes after the leader record"));
        }
        Ok(record)
    }
}

/// The `data_hash` of a block made of `payload` and the encoded leader `record`: one hash that
/// commits to both datums.
pub fn data_hash(payload: &[u8], record: &[u8]) -> B256 {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(keccak256(payload).as_slice());
    both[32..].copy_from_slice(keccak256(record).as_slice());
    keccak256(both)
}

/// One committed block as the schedule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedLeader {
    /// The view it was proposed in.
    pub view: u64,
    /// Its consensus height (L2 block number - 1).
    pub height: u64,
    /// Its proposer.
    pub proposer: VerifyingKey,
    /// Leaders it recorded as skipped.
    pub skipped: Vec<VerifyingKey>,
    /// Validators whose votes its certificate (for its parent) carries.
    pub voters: Vec<VerifyingKey>,
}

/// What one validator last did in the committed chain ([`Reputation::activity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorActivity {
    /// Its consensus key.
    pub key: VerifyingKey,
    /// (view, consensus height) of the newest committed block its vote certified (the vote
    /// rides in the certificate of the block after it).
    pub last_vote: Option<(u64, u64)>,
    /// (view, consensus height) of the newest committed block it proposed.
    pub last_proposal: Option<(u64, u64)>,
}

/// Leader reputation over the committed chain (see the module docs); a plain state machine.
#[derive(Debug, Default)]
pub struct Reputation {
    /// Committed blocks, oldest first, views strictly increasing.
    blocks: VecDeque<CommittedLeader>,
    /// Per validator, the (view, height) of the newest block its counted vote certified, and
    /// of the newest block it proposed (status reports: kept as blocks come, so reading them
    /// costs nothing under the lock consensus takes for every leader it asks for).
    last_vote: HashMap<VerifyingKey, (u64, u64)>,
    last_proposal: HashMap<VerifyingKey, (u64, u64)>,
}

/// The run a view belongs to.
fn run_of(view: u64) -> u64 {
    view / LEADER_RUN
}

impl Reputation {
    /// Takes in the next committed block. Blocks must come in chain order; one whose view is
    /// not above the last one's is ignored (it was seen already).
    pub fn observe(&mut self, block: CommittedLeader) {
        if self.blocks.back().is_some_and(|last| last.view >= block.view) {
            return;
        }
        // The block's certificate carries the votes for its parent: the block before it here,
        // when that is its parent.
        if let Some(parent) = self.blocks.back().filter(|p| p.height + 1 == block.height) {
            for voter in &block.voters {
                self.last_vote.insert(*voter, (parent.view, parent.height));
            }
        }
        self.last_proposal.insert(block.proposer, (block.view, block.height));
        self.blocks.push_back(block);
        // Cutoffs lag the newest block by a few runs: keep enough beyond HISTORY for them.
        while self.blocks.len() > HISTORY + WINDOW {
            self.blocks.pop_front();
        }
    }

    /// Committed blocks observed (at most `HISTORY + WINDOW`).
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// What each of `validators` last did in the committed blocks observed: the newest block
    /// its vote certified (a certificate holds the first quorum of votes its leader received,
    /// so a slow validator can vote and still be missing from many: "last vote" is the last
    /// one that counted), and the newest block it proposed.
    pub fn activity(&self, validators: &[VerifyingKey]) -> Vec<ValidatorActivity> {
        validators
            .iter()
            .map(|key| ValidatorActivity {
                key: *key,
                last_vote: self.last_vote.get(key).copied(),
                last_proposal: self.last_proposal.get(key).copied(),
            })
            .collect()
    }

    /// The validators of `validators` (in their order) that may lead run `run`.
    pub fn eligible(&self, run: u64, validators: &[VerifyingKey]) -> Vec<VerifyingKey> {
        let cutoff = (run * LEADER_RUN).saturating_sub(LAG_VIEWS);
        // Views increase along the chain: the blocks that count are a prefix.
        let end = self.blocks.partition_point(|b| b.view <= cutoff);
        let history = self.blocks.range(end.saturating_sub(HISTORY)..end);
        let mut skips: HashMap<VerifyingKey, usize> = HashMap::new();
        for block in history {
            for key in &block.skipped {
                *skips.entry(*key).or_default() += 1;
            }
        }
        let recent = self.blocks.range(end.saturating_sub(WINDOW)..end);
        let full_window = end >= WINDOW;
        let mut skipped_recently = BTreeSet::new();
        let mut active = BTreeSet::new();
        for block in recent {
            skipped_recently.extend(block.skipped.iter().map(|k| k.to_bytes()));
            active.insert(block.proposer.to_bytes());
            active.extend(block.voters.iter().map(|k| k.to_bytes()));
        }
        let eligible: Vec<VerifyingKey> = validators
            .iter()
            .filter(|v| {
                let key = v.to_bytes();
                !skipped_recently.contains(&key)
                    && skips.get(*v).copied().unwrap_or_default() < REPEAT_OFFENCES
                    && (!full_window || active.contains(&key))
            })
            .copied()
            .collect();
        if eligible.is_empty() { validators.to_vec() } else { eligible }
    }

    /// The leader of `view` among `validators` (non-empty, in the validator set's order).
    ///
    /// Two replicas agree on it whenever both have committed a block proposed at most
    /// [`LAG_VIEWS`] views before `view`: the blocks that decide it (proposed at least that far
    /// before `view`'s run) are then committed on both. When nothing that recent is committed
    /// here (the chain stalls, or this replica lags), the leader is plain round robin, which
    /// needs no history: replicas whose committed chains differ could otherwise disagree on
    /// every leader and never commit again.
    pub fn leader(&self, view: u64, validators: &[VerifyingKey]) -> VerifyingKey {
        let run = run_of(view);
        let stalled = self.blocks.back().is_none_or(|last| view > last.view + LAG_VIEWS);
        let eligible = if stalled { validators.to_vec() } else { self.eligible(run, validators) };
        eligible[(run % eligible.len() as u64) as usize]
    }

    /// The leaders of the runs strictly between `parent_view`'s (the view of the block a new
    /// block extends; `None` for the genesis block) and `view`'s, leaving out `proposer`:
    /// what a block proposed in `view` records as skipped. Sorted, without duplicates.
    pub fn skipped_between(
        &self,
        parent_view: Option<u64>,
        view: u64,
        validators: &[VerifyingKey],
        proposer: &VerifyingKey,
    ) -> Vec<VerifyingKey> {
        let first = parent_view.map_or(0, |v| run_of(v) + 1);
        let last = run_of(view);
        // After a long stall many runs passed; leaders repeat every |validators| runs or less,
        // so the most recent 2n runs name every leader that failed in them.
        let first = first.max(last.saturating_sub(2 * validators.len() as u64));
        let mut skipped: Vec<VerifyingKey> = (first..last)
            .map(|run| self.leader(run * LEADER_RUN, validators))
            .filter(|leader| leader != proposer)
            .collect();
        skipped.sort_by_key(|k| k.to_bytes());
        skipped.dedup();
        skipped
    }
}

/// The schedule hotstuff_rs asks: a [`Reputation`] fed from the node's block tree.
#[derive(Debug)]
pub struct FlashSchedule {
    store: ConsensusStore,
    reputation: Mutex<Reputation>,
}

impl FlashSchedule {
    /// The schedule of the replica on `store`, primed with the last committed blocks (as many
    /// as the reputation looks at), so that a restarted node computes what the others do.
    pub fn open(store: ConsensusStore) -> Self {
        let schedule = Self { store, reputation: Mutex::new(Reputation::default()) };
        let mut blocks = Vec::new();
        let mut cursor = schedule.store.highest_committed_block().ok().flatten();
        while let Some(block) = cursor {
            if blocks.len() >= HISTORY + WINDOW {
                break;
            }
            let Ok(justify) = schedule.store.block_justify(&block) else { break };
            blocks.push(block);
            cursor = (!justify.is_genesis_pc()).then_some(justify.block);
        }
        {
            let mut reputation = schedule.reputation.lock();
            for block in blocks.iter().rev() {
                if let Some(seen) = schedule.read(block) {
                    reputation.observe(seen);
                }
            }
            tracing::debug!(blocks = reputation.len(), "leader schedule primed from the committed chain");
        }
        schedule
    }

    /// A committed block's leader record and voters, from the store.
    fn read(&self, block: &CryptoHash) -> Option<CommittedLeader> {
        let datum = self.store.block_datum(block, 1)?;
        let record = LeaderRecord::decode(datum.bytes()).ok()?;
        let key = |b: &B256| VerifyingKey::from_bytes(&b.0).ok();
        let justify = self.store.block_justify(block).ok()?;
        // The certificate's signatures line up with the validator set that signed it: the
        // committed one, except across a set change (then the voters are only approximate,
        // which costs a view at worst).
        let set = self.store.committed_validator_set().ok()?;
        let voters = if justify.signatures.len() == set.len() {
            set.validators()
                .zip(justify.signatures.iter())
                .filter(|(_, s)| s.is_some())
                .map(|(v, _)| *v)
                .collect()
        } else {
            Vec::new()
        };
        Some(CommittedLeader {
            view: record.view,
            // For status reports only: a height that cannot be read must not keep the block out
            // of the reputation.
            height: self.store.block_height(block).ok().flatten().map_or(0, |h| h.int()),
            proposer: key(&record.proposer)?,
            skipped: record.skipped.iter().filter_map(key).collect(),
            voters,
        })
    }

    /// See [`Reputation::skipped_between`].
    pub fn skipped_between(
        &self,
        parent_view: Option<u64>,
        view: u64,
        validators: &ValidatorSet,
        proposer: &VerifyingKey,
    ) -> Vec<VerifyingKey> {
        let validators: Vec<VerifyingKey> = validators.validators().copied().collect();
        self.reputation.lock().skipped_between(parent_view, view, &validators, proposer)
    }

    /// What each of `keys` last did in the committed chain (for status reports; see
    /// [`Reputation::activity`]). Any keys: an operator that left the set keeps its record.
    pub fn activity(&self, keys: &[VerifyingKey]) -> Vec<ValidatorActivity> {
        self.reputation.lock().activity(keys)
    }

    /// The validators of `validators` eligible to lead `view`'s run (for status reports).
    pub fn eligible(&self, view: u64, validators: &ValidatorSet) -> Vec<VerifyingKey> {
        let validators: Vec<VerifyingKey> = validators.validators().copied().collect();
        self.reputation.lock().eligible(run_of(view), &validators)
    }
}

impl LeaderSchedule for FlashSchedule {
    fn leader(&self, view: ViewNumber, validator_set: &ValidatorSet) -> VerifyingKey {
        let validators: Vec<VerifyingKey> = validator_set.validators().copied().collect();
        self.reputation.lock().leader(view.int(), &validators)
    }

    fn on_commit(&self, block: &CryptoHash) {
        if let Some(seen) = self.read(block) {
            if !seen.skipped.is_empty() {
                let skipped: Vec<String> =
                    seen.skipped.iter().map(|k| hex::encode(&k.to_bytes()[..4])).collect();
                tracing::info!(
                    view = seen.view,
                    proposer = %hex::encode(&seen.proposer.to_bytes()[..4]),
                    ?skipped,
                    "committed a block recording skipped leaders"
                );
            }
            self.reputation.lock().observe(seen);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u8) -> Vec<VerifyingKey> {
        let mut keys: Vec<VerifyingKey> =
            (1..=n).map(|i| ed25519_dalek::SigningKey::from_bytes(&[i; 32]).verifying_key()).collect();
        keys.sort_by_key(|k| k.to_bytes());
        keys
    }

    /// Commits the blocks a healthy chain makes from `views` (each led by the schedule's
    /// leader, voted by `voters`), recording skipped runs as a proposer would.
    fn commit_views(
        r: &mut Reputation,
        views: impl IntoIterator<Item = u64>,
        validators: &[VerifyingKey],
        voters: &[VerifyingKey],
    ) {
        for view in views {
            let proposer = r.leader(view, validators);
            let parent = r.blocks.back().map(|b| b.view);
            let skipped = r.skipped_between(parent, view, validators, &proposer);
            let height = r.blocks.back().map_or(0, |b| b.height + 1);
            r.observe(CommittedLeader { view, height, proposer, skipped, voters: voters.to_vec() });
        }
    }

    #[test]
    fn with_nobody_failing_it_is_plain_round_robin() {
        let v = keys(4);
        let mut r = Reputation::default();
        commit_views(&mut r, 0..400, &v, &v);
        for run in 0..100u64 {
            assert_eq!(r.leader(run * LEADER_RUN, &v), v[(run % 4) as usize], "run {run}");
        }
    }

    #[test]
    fn a_dead_leader_fails_once_then_is_left_out_until_it_votes_again() {
        let v = keys(4);
        let dead = v[2];
        let alive: Vec<VerifyingKey> = v.iter().copied().filter(|k| *k != dead).collect();
        let mut r = Reputation::default();
        commit_views(&mut r, 0..200, &v, &v);
        // The dead validator's next run produces no block: the chain jumps over it.
        let mut failures = 0;
        let mut view = 200;
        while view < 2_000 {
            if r.leader(view, &v) == dead {
                failures += 1;
                view = (view / LEADER_RUN + 1) * LEADER_RUN;
                continue;
            }
            commit_views(&mut r, [view], &v, &alive);
            view += 1;
        }
        assert_eq!(failures, 1, "a dead leader is given one turn, not one per cycle");
        // It comes back and votes: after its skip has left the window it leads again.
        let mut led = false;
        for view in 2_000..2_000 + 4 * WINDOW as u64 * LEADER_RUN {
            if r.leader(view, &v) == dead {
                led = true;
                break;
            }
            commit_views(&mut r, [view], &v, &v);
        }
        assert!(led, "a returned validator gets its turn again");
    }

    #[test]
    fn a_leader_that_keeps_failing_is_left_out_for_the_history() {
        let v = keys(4);
        let bad = v[1];
        let mut r = Reputation::default();
        let mut failures = 0;
        let mut view = 0;
        // It votes (so it is active) but never produces a block when it leads.
        while view < 1_000 {
            if r.leader(view, &v) == bad {
                failures += 1;
                view = (view / LEADER_RUN + 1) * LEADER_RUN;
                continue;
            }
            commit_views(&mut r, [view], &v, &v);
            view += 1;
        }
        assert_eq!(failures, REPEAT_OFFENCES, "excluded for the history after {REPEAT_OFFENCES} failures");
    }

    #[test]
    fn replicas_with_different_commits_agree_once_in_step_and_fall_back_when_stalled() {
        let v = keys(4);
        let (mut ahead, mut behind) = (Reputation::default(), Reputation::default());
        commit_views(&mut ahead, 0..100, &v, &v);
        commit_views(&mut behind, 0..100, &v, &v);
        // A dead leader's run is recorded as skipped by a block only `ahead` has committed.
        let skipped = ahead.leader(100, &v);
        let proposer = ahead.leader(104, &v);
        ahead.observe(CommittedLeader {
            view: 104,
            height: 100,
            proposer,
            skipped: vec![skipped],
            voters: v.clone(),
        });
        commit_views(&mut ahead, 105..108, &v, &v);
        // Wherever both are in step (each committed a block within LAG_VIEWS of the view),
        // they agree: the blocks that decide are ones both have.
        let behind_last = 99;
        for view in 100..=behind_last + LAG_VIEWS {
            assert_eq!(ahead.leader(view, &v), behind.leader(view, &v), "view {view}");
        }
        // Far past both replicas' last commits, both use plain round robin.
        for view in 107 + LAG_VIEWS + 1..300 {
            assert_eq!(ahead.leader(view, &v), behind.leader(view, &v), "view {view}");
            assert_eq!(ahead.leader(view, &v), v[(run_of(view) % 4) as usize]);
        }
    }

    #[test]
    fn activity_names_each_validators_last_counted_vote_and_proposal() {
        let v = keys(4);
        let silent = v[3];
        let others: Vec<VerifyingKey> = v[..3].to_vec();
        let mut r = Reputation::default();
        commit_views(&mut r, 0..40, &v, &v);
        // The fourth validator stops voting; its last counted vote is in block 39's certificate,
        // for block 38.
        commit_views(&mut r, 40..80, &v, &others);
        let activity = r.activity(&v);
        assert_eq!(activity.len(), 4);
        for a in &activity {
            if a.key == silent {
                assert_eq!(a.last_vote, Some((38, 38)));
            } else {
                assert_eq!(a.last_vote, Some((78, 78)), "{a:?}");
            }
            let (view, height) = a.last_proposal.expect("everyone led a run");
            assert_eq!(r.blocks[height as usize].proposer, a.key);
            assert!(view >= 80 - 4 * LEADER_RUN, "the newest proposal, not an old one: view {view}");
        }
        // Nothing observed: nothing known.
        assert!(Reputation::default().activity(&v).iter().all(|a| a.last_vote.is_none()));
    }

    #[test]
    fn everyone_excluded_means_everyone_eligible() {
        let v = keys(4);
        let mut r = Reputation::default();
        r.observe(CommittedLeader {
            view: 100,
            height: 0,
            proposer: v[0],
            skipped: v.clone(),
            voters: Vec::new(),
        });
        assert_eq!(r.eligible(1_000, &v).len(), 4);
    }

    #[test]
    fn records_round_trip_and_hash_both_datums() {
        let v = keys(2);
        let record = LeaderRecord {
            view: 9,
            proposer: B256::from(v[0].to_bytes()),
            skipped: vec![B256::from(v[1].to_bytes())],
            l1_head: 77,
        };
        assert_eq!(LeaderRecord::decode(&record.encode()).unwrap(), record);
        let mut trailing = record.encode();
        trailing.push(0);
        assert!(LeaderRecord::decode(&trailing).is_err());
        assert_ne!(data_hash(b"payload", &record.encode()), data_hash(b"payload", &[]));
    }
}
