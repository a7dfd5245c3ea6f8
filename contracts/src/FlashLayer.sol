// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {TrieProof} from "@openzeppelin/contracts/utils/cryptography/TrieProof.sol";
import {StateProofs} from "./StateProofs.sol";
import {MessageTree} from "./MessageTree.sol";

/// @title FlashLayer
/// @notice The L1 contract of one flashlayer layer (a disposable EVM rollup run by a flashlayer
/// sequencer cluster). It is the layer's bridge and settlement record:
///
/// - **Settlement.** The cluster's members each hold a settlement key; the current set of their
///   addresses (the signer set) and a > 2/3 threshold are stored here. The cluster periodically signs
///   a {Batch} (EIP-712, domain "FlashLayer" / "1" / chain id / this contract) that commits to a
///   contiguous range of L2 blocks: its last block hash, state root, transaction data hash, the Merkle
///   root of the L2->L1 messages sent in the range, and how far L1 deposits were credited. Anyone can
///   submit the batch with at least `threshold` member signatures ({submitBatch}); batches form a hash
///   chain starting right after the L2 genesis block. The signer set itself changes through the same
///   quorum ({updateSigners}).
/// - **Membership.** Operators join and leave the cluster through owner-approved requests: an operator
///   asks to join from its settlement address ({requestJoin}, with its consensus key), the {owner}
///   approves ({approveJoin}); a member (or the owner) announces a leave ({requestLeave}). Each change
///   is announced with {MembershipChanged} and a sequential nonce; this contract does not change the
///   signer set itself. The cluster's L1 watcher reads these events and applies each change at a batch
///   boundary, to its consensus validator set and, through {updateSigners} signed by the outgoing set,
///   to the signer set here. Joining is owner-approved rather than bonded: a flash layer is a
///   short-lived, permissioned deployment run for one dApp team, the owner already chooses the initial
///   set at creation, and with no fraud proof nothing could ever slash a bond, so a bond would secure
///   nothing.
/// - **Deposits (L1->L2).** {deposit} locks ETH here and emits {Deposit} with a sequential nonce. The
///   cluster's L1 watcher reads these events and credits `to` on L2 in nonce order; each batch states
///   the last deposit nonce credited up to its last block.
/// - **Messages / withdrawals (L2->L1).** On L2, the `L2MessagePasser` system contract emits messages
///   (nonce, sender, target, value, data). Each batch commits to the messages of its range in
///   `messagesRoot` (tree rules in {MessageTree}). Once the batch's challenge window has passed, any
///   relayer proves a message against that root with {relayMessage}, which calls `target` with `value`
///   wei (paid from the deposited ETH) and `data`. An ETH withdrawal is a message with empty data.
///   Each message is relayed at most once.
///
/// - **End of life.** A layer is disposable: it ends at its {deadline} (if set), when the {owner} calls
///   {close}, or at an end the cluster agreed on at creation (an L2 block number). From then on no
///   deposits are taken. The cluster executes what it committed and signs the **final batch**
///   ({settle}): a {Batch} plus the root of every L2 account's remaining ETH balance. Once the final
///   batch is accepted the layer is settled: anyone {claim}s an account's balance with a proof against
///   that root, messages of every accepted batch stay relayable, and deposits the layer never credited
///   are refunded to their senders ({refundDeposit}). ETH a layer's genesis gives its accounts is
///   locked here at deployment ({genesisSupply}), so every L2 balance is backed by ETH this contract
///   holds.
///
/// - **When the committee fails.** There is no fraud or validity proof: L1 cannot re-execute L2
///   blocks, so a batch is trusted on the strength of the signer quorum, and the challenge window
///   delays every payout so that someone can object. The {watchers} named at creation may
///   {dispute} a batch within its window (`flashlayer verify --dispute` does when its re-execution
///   disagrees): a dispute is final, nobody resolves it, and the disputed batch and every later one
///   never pay out (no relays, no claims, no more batches or deposits). Accounts then {escape} with
///   their ETH balance in the last undisputed batch's state, proven by a Merkle-Patricia account proof
///   (`eth_getProof`) against that batch's state root, and deposits after it are refunded. The same
///   escape opens when no final batch lands within {gracePeriod} of the layer's end, or of the last
///   accepted batch (operators gone). Claims, relays, refunds and escapes share one ledger: each
///   account is paid once ({claimed}), each message and deposit once. docs/settlement.md ("Trust
///   model") says what a watcher can grief and what stays locked.
contract FlashLayer is EIP712, ReentrancyGuardTransient {
    /// @notice A settlement batch: a contiguous range of L2 blocks, as signed by the cluster. The
    /// EIP-712 struct hash of a batch is {batchHash}; the signed digest is {batchDigest}.
    struct Batch {
        /// 1 for the first batch, then the previous accepted index + 1.
        uint64 index;
        /// Struct hash ({batchHash}) of the previous accepted batch; bytes32(0) for index 1.
        bytes32 prevBatchHash;
        /// First L2 block of the range: 1 for the first batch, then the previous lastBlock + 1.
        uint64 firstBlock;
        /// Last L2 block of the range (>= firstBlock).
        uint64 lastBlock;
        /// Hash of L2 block `lastBlock` (nonzero).
        bytes32 lastBlockHash;
        /// L2 state root after `lastBlock` (nonzero).
        bytes32 stateRoot;
        /// keccak256 of the range's batch data: the versioned, compressed re-execution inputs of its
        /// blocks (docs/settlement.md, "Batch data"); its signers attest they hold the data (nonzero).
        bytes32 txDataHash;
        /// Merkle root of the range's L2->L1 messages, {EMPTY_MESSAGES_ROOT} when none (nonzero).
        bytes32 messagesRoot;
        /// Last L1 deposit nonce credited on L2 up to `lastBlock` (>= previous batch's, <= depositCount).
        uint64 lastDepositNonce;
        /// The running hash of the deposits credited up to `lastBlock` ({depositsHash} of
        /// `lastDepositNonce`): binds the batch to the deposits' content, not only their count, so
        /// a batch that credited a deposit an L1 reorg took away cannot land.
        bytes32 depositsHash;
    }

    /// @notice What is stored for each accepted batch (index 0 is the L2 genesis: zero batch hash and
    /// messages root, the genesis state root, lastBlock 0, lastBlockHash = the genesis block hash,
    /// accepted at deployment).
    struct BatchRecord {
        /// The batch's struct hash ({batchHash}).
        bytes32 batchHash;
        /// Hash of the batch's last L2 block.
        bytes32 lastBlockHash;
        /// L2 state root after the batch's last block.
        bytes32 stateRoot;
        /// Merkle root of the batch's L2->L1 messages.
        bytes32 messagesRoot;
        /// The batch's last L2 block.
        uint64 lastBlock;
        /// Last L1 deposit nonce credited on L2 up to `lastBlock`.
        uint64 lastDepositNonce;
        /// L1 block number in which the batch was accepted.
        uint64 acceptedBlock;
        /// L1 timestamp at which the batch was accepted (start of its challenge window).
        uint64 acceptedAt;
    }

    /// @notice What users fall back on when the committee fails, fixed at creation.
    struct Recourse {
        /// L2 state root of the genesis block: what accounts escape with when the first batch is
        /// disputed (nonzero).
        bytes32 genesisStateRoot;
        /// Seconds without a final batch, after the layer's end or after the last accepted batch,
        /// before anyone may {escape} (nonzero).
        uint64 gracePeriod;
        /// Who may {dispute} a batch within its challenge window (none: nobody can).
        address[] watchers;
    }

    /// @notice EIP-712 type hash of {Batch}.
    bytes32 public constant BATCH_TYPEHASH = keccak256(
        "Batch(uint64 index,bytes32 prevBatchHash,uint64 firstBlock,uint64 lastBlock,bytes32 lastBlockHash,bytes32 stateRoot,bytes32 txDataHash,bytes32 messagesRoot,uint64 lastDepositNonce,bytes32 depositsHash)"
    );
    /// @notice EIP-712 type hash of a signer-set change, signed by the outgoing set (`epoch` is the
    /// new epoch; `afterBatch` the outgoing set's last batch, which must have landed; `membershipNonce`
    /// the change it applies; `signers` is encoded as keccak256 of the 32-byte padded addresses).
    bytes32 public constant SIGNER_SET_UPDATE_TYPEHASH = keccak256(
        "SignerSetUpdate(uint64 epoch,uint64 afterBatch,uint64 membershipNonce,address[] signers,uint256 threshold)"
    );
    /// @notice EIP-712 type hash of the final batch: the last {Batch} and the root of the layer's final
    /// ETH balances (see {claim} for its leaves).
    bytes32 public constant FINAL_BATCH_TYPEHASH = keccak256(
        "FinalBatch(Batch batch,bytes32 balancesRoot)Batch(uint64 index,bytes32 prevBatchHash,uint64 firstBlock,uint64 lastBlock,bytes32 lastBlockHash,bytes32 stateRoot,bytes32 txDataHash,bytes32 messagesRoot,uint64 lastDepositNonce,bytes32 depositsHash)"
    );
    /// @notice The L2MessagePasser's address on L2 (the Rust side's `L2_MESSAGE_PASSER`): deposits
    /// to it are refused.
    address public constant L2_MESSAGE_PASSER = 0xf1A5000000000000000000000000000000000001;
    /// @notice The messagesRoot of a batch without L2->L1 messages: keccak256("").
    bytes32 public constant EMPTY_MESSAGES_ROOT = MessageTree.EMPTY_ROOT;

    /// @notice Hash of the L2 genesis block (the block before the first batch's range).
    bytes32 public immutable genesisBlockHash;
    /// @notice Seconds after a batch's acceptance before its messages can be relayed (and, for the
    /// final batch, before balances can be claimed).
    uint64 public immutable challengeWindow;
    /// @notice Who created the layer: the only account that may {close} it early.
    address public immutable owner;
    /// @notice L1 timestamp at which the layer ends (0: no deadline; it ends by {close} or at an L2
    /// block fixed at creation).
    uint64 public immutable deadline;
    /// @notice Wei locked at deployment to back the ETH the L2 genesis allocates.
    uint256 public immutable genesisSupply;
    /// @notice Where batch data goes, fixed at creation: {DA_COMMITTEE} (the operators keep and serve
    /// it; a signature attests that its signer stores it), {DA_L1_CALLDATA} (every batch carries its
    /// data in the submission: {submitBatchWithData}, {settleWithData}) or {DA_L1_BLOBS} (every
    /// batch's submission is an EIP-4844 transaction whose blobs carry its data).
    uint8 public immutable dataAvailability;
    /// @notice {dataAvailability}: the operators keep the batch data (AnyTrust-style).
    uint8 public constant DA_COMMITTEE = 0;
    /// @notice {dataAvailability}: each batch's data rides in its submission's calldata.
    uint8 public constant DA_L1_CALLDATA = 1;
    /// @notice {dataAvailability}: each batch's data rides in the blobs of its submission; the batch's
    /// `txDataHash` is `keccak256` of the blobs' versioned hashes, in order, and the contract records
    /// them ({batchBlobHashes}).
    uint8 public constant DA_L1_BLOBS = 2;
    /// @notice The most blobs one batch may carry (EIP-7594's cap per transaction).
    uint256 public constant MAX_BATCH_BLOBS = 6;
    /// @notice Seconds without a final batch, after the layer's end or after the last accepted batch,
    /// before the escape opens ({escapeStatus}).
    uint64 public immutable gracePeriod;
    /// @notice keccak256 of empty code: the code hash of an account without code.
    bytes32 public constant EMPTY_CODE_HASH = keccak256("");
    /// @notice The storage slot of `L2MessagePasser.claimRecipientOf` (see {escapeTo}).
    uint256 public constant CLAIM_RECIPIENT_SLOT = 1;

    /// @notice L1 block in which the owner closed the layer (0: not closed).
    uint64 public closedAt;
    /// @notice Whether the final batch was accepted.
    bool public settled;
    /// @notice Root of the final ETH balances (set with the final batch).
    bytes32 public balancesRoot;
    /// @notice Whether the balance of this account was claimed.
    mapping(address account => bool) public claimed;
    /// Deposit nonce => the running hash of deposits 1..nonce ({depositsHash}): what batches commit
    /// to, and what refunds prove a deposit's fields against.
    mapping(uint64 nonce => bytes32) private _depositsHash;
    /// @notice Whether deposit `nonce` was refunded.
    mapping(uint64 nonce => bool) public refunded;
    /// @notice The contract that makes the calls of relayed messages ({relayMessage}); it holds
    /// nothing, so a message cannot move assets that reached this contract's address.
    MessageForwarder public immutable forwarder;
    /// @notice The contract that reads escape proofs ({escape}): stateless, deployed with the layer.
    StateProofs public immutable stateProofs;

    /// @notice The signer-set epoch: 0 for the set given at deployment, +1 per {updateSigners}.
    uint64 public epoch;
    /// @notice Index of the last accepted batch (0 before the first).
    uint64 public lastBatchIndex;
    /// @notice Number of deposits made, i.e. the nonce of the last {Deposit} (nonces start at 1).
    uint64 public depositCount;
    uint64 private _threshold;

    /// What is stored per address for membership (one slot).
    struct Member {
        /// epoch + 1 of the last set the address was a member of (0: never); membership of the current
        /// set is `lastSet == epoch + 1`, so replacing the set needs no clearing.
        uint64 lastSet;
        /// An approved join ({approveJoin}) the cluster has not applied yet; cleared when a set that
        /// contains the address is installed.
        bool joining;
        /// A leave announced ({requestLeave}) while a member of set `lastSet`; it counts only while the
        /// address is still a member (see {leaving}); cleared when the address joins a set again.
        bool leaving;
    }

    address[] private _signers;
    mapping(address => Member) private _memberOf;
    mapping(uint64 => BatchRecord) private _batches;
    /// @notice Whether the message with this hash has been relayed.
    mapping(bytes32 messageHash => bool) public relayed;
    /// The L2 sender of the message being relayed (only set during the target call).
    address private transient _l2Sender;

    /// @notice Nonce of the last {MembershipChanged} (changes are numbered 1, 2, 3, ...; 0: none yet).
    uint64 public membershipNonce;
    /// Number of current members with an announced, not yet applied leave.
    uint64 private _pendingLeaves;
    /// @notice The consensus key of `operator`'s pending join request (bytes32(0): none).
    mapping(address operator => bytes32 consensusKey) public pendingJoin;
    /// @notice The ed25519 signature by the pending join's consensus key over
    /// {joinProofMessage}`(operator, key)`: L1 cannot check ed25519, the owner's tooling checks it
    /// before approving (an operator naming a key it does not hold would add a validator nobody runs).
    mapping(address operator => bytes keyProof) public pendingJoinProof;
    /// @notice The consensus key of `operator`: given at creation for the initial set, approved by
    /// its last {approveJoin} for a joiner.
    mapping(address operator => bytes32 consensusKey) public consensusKeyOf;
    /// @notice The operator a consensus key belongs to (address(0): unused). A key once given to an
    /// operator is never given to another: a join under a member's key, later leaving, would remove
    /// that member from the consensus validator set.
    mapping(bytes32 consensusKey => address operator) public operatorOfKey;

    /// A membership change ({MembershipChanged}) as queued: applied by {updateSigners} in nonce
    /// order, not before `effectiveAt`.
    struct Change {
        address operator;
        bool joining;
        uint64 effectiveAt;
    }

    /// @notice Membership change nonce => the change.
    mapping(uint64 nonce => Change) private _changes;
    /// Versioned hashes of the blobs that carried each batch's data ({DA_L1_BLOBS}).
    mapping(uint64 index => bytes32[]) private _batchBlobs;
    /// @notice Nonce of the last membership change installed by {updateSigners} (0: none).
    uint64 public appliedMembershipNonce;

    /// @notice The first disputed batch (0: none). It and every later batch never pay out.
    uint64 public disputedFrom;
    /// @notice L1 timestamp at which the owner closed the layer (0: not closed).
    uint64 public closedTime;
    /// @notice The watcher that disputed {disputedFrom}.
    address public disputedBy;
    /// @notice Whether `account` may {dispute} batches (named at creation).
    mapping(address account => bool) public isWatcher;
    address[] private _watchers;
    /// @notice Wei paid by escapes against the genesis state (batch 0), at most {genesisSupply}.
    uint256 public escapedFromGenesis;

    /// @notice Watcher `watcher` disputed batch `index`: it and every later batch never pay out.
    event Disputed(uint64 indexed index, address indexed watcher);
    /// @notice `account` escaped with its balance `amount` in batch `batchIndex`'s state, paid to `payee`.
    event Escaped(address indexed account, address indexed payee, uint64 indexed batchIndex, uint256 amount);
    /// @notice The signer set changed (also emitted at deployment with epoch 0).
    event SignerSetUpdated(uint64 indexed epoch, address[] signers, uint256 threshold);
    /// @notice A batch was accepted. `txDataHash` names the batch data a verifier needs to re-execute
    /// its blocks (`flashlayer verify`; the encoding is in docs/settlement.md).
    event BatchAccepted(
        uint64 indexed index,
        bytes32 indexed batchHash,
        uint64 firstBlock,
        uint64 lastBlock,
        bytes32 lastBlockHash,
        bytes32 stateRoot,
        bytes32 messagesRoot,
        bytes32 txDataHash
    );
    /// @notice Batch `index`'s data rides in the blobs with these versioned hashes ({DA_L1_BLOBS}).
    event BatchBlobs(uint64 indexed index, bytes32[] blobHashes);
    /// @notice `amount` wei were deposited by `from` for `to` on L2; `nonce` is the deposit's
    /// sequence number (1, 2, ...), the order in which L2 credits deposits.
    event Deposit(uint64 indexed nonce, address indexed from, address indexed to, uint256 amount);
    /// @notice The owner closed the layer at L1 block `l1Block`.
    event Closed(uint64 l1Block);
    /// @notice The final batch `index` was accepted: the layer is settled.
    event Settled(uint64 indexed index, bytes32 balancesRoot);
    /// @notice `amount` wei of `account`'s final L2 balance were paid to it on L1.
    event Claimed(address indexed account, uint256 amount);
    /// @notice Deposit `nonce`, never credited on L2, was paid back to `from`.
    event DepositRefunded(uint64 indexed nonce, address indexed from, uint256 amount);
    /// @notice A message was relayed: `target` was called with `value` wei and the message's data.
    event MessageRelayed(bytes32 indexed messageHash, uint256 indexed nonce, address indexed target, uint256 value);
    /// @notice `operator` (the sender, its settlement address) asked to join with consensus key
    /// `consensusKey`; the owner decides ({approveJoin}).
    event JoinRequested(address indexed operator, bytes32 consensusKey);
    /// @notice `operator` withdrew its pending join request.
    event JoinCancelled(address indexed operator);
    /// @notice Membership change number `nonce` (1, 2, 3, ...): `operator` joins (`joining`, approved by
    /// the owner) or leaves the cluster. The cluster applies changes in nonce order at a batch boundary,
    /// then installs the new signer set with {updateSigners}. `consensusKey` is the operator's consensus
    /// key ({consensusKeyOf}).
    /// `effectiveAt` is the L1 timestamp from which the cluster may apply it (the announcement plus
    /// {membershipDelay}): until then users can see who is coming and leave first.
    event MembershipChanged(
        uint64 indexed nonce, address indexed operator, bytes32 consensusKey, bool joining, uint64 effectiveAt
    );

    // ------------------------------------------------------------------ errors: signer set config
    /// @notice The signer set is empty.
    error EmptySignerSet();
    /// @notice The signer set contains address(0).
    error ZeroSignerAddress();
    /// @notice `signers[position]` is not strictly greater than `signers[position - 1]`
    /// (the set must be sorted ascending without duplicates).
    error SignerSetNotSorted(uint256 position);
    /// @notice `threshold` is not in (2/3 * signerCount, signerCount].
    error InvalidThreshold(uint256 threshold, uint256 signerCount);
    /// @notice The genesis block hash given at deployment is zero.
    error ZeroGenesisHash();
    /// @notice `consensusKeys_` at deployment does not have one key per signer.
    error ConsensusKeysMismatch(uint256 keys, uint256 signers);

    // ------------------------------------------------------------------ errors: signatures
    /// @notice Fewer signatures (`got`) than the threshold (`need`).
    error BelowThreshold(uint256 got, uint256 need);
    /// @notice `signatures[position]` is not 65 bytes (r || s || v).
    error SignatureWrongLength(uint256 position, uint256 length);
    /// @notice `signatures[position]` has s in the upper half of the curve order (malleable form).
    error SignatureHighS(uint256 position);
    /// @notice `signatures[position]` recovers to no address (v not 27/28, or r/s not a valid signature).
    error InvalidSignature(uint256 position);
    /// @notice The signer of `signatures[position]` is not strictly greater than the previous one
    /// (signatures must be ordered by signer address; this also rejects duplicates).
    error SignersNotAscending(uint256 position);
    /// @notice `signatures[position]` recovers to `recovered`, which is not in the current signer set
    /// (also what a signature over another chain id, contract or message yields).
    error NotASigner(uint256 position, address recovered);

    // ------------------------------------------------------------------ errors: batches
    /// @notice The batch index is not lastBatchIndex + 1 (a replayed batch gets this too).
    error WrongBatchIndex(uint64 expected, uint64 got);
    /// @notice prevBatchHash is not the hash of the last accepted batch.
    error WrongPrevBatchHash(bytes32 expected, bytes32 got);
    /// @notice firstBlock is not the previous batch's lastBlock + 1.
    error WrongFirstBlock(uint64 expected, uint64 got);
    /// @notice lastBlock < firstBlock.
    error EmptyRange(uint64 firstBlock, uint64 lastBlock);
    /// @notice lastBlockHash is zero.
    error ZeroLastBlockHash();
    /// @notice stateRoot is zero.
    error ZeroStateRoot();
    /// @notice txDataHash is zero.
    error ZeroTxDataHash();
    /// @notice A data-availability mode this contract does not know.
    error UnknownDataAvailability(uint8 mode);
    /// @notice This layer posts batch data on L1: use {submitBatchWithData} / {settleWithData} on a
    /// {DA_L1_CALLDATA} layer, an EIP-4844 transaction with the data's blobs on a {DA_L1_BLOBS} one.
    error DataRequired();
    /// @notice The data sent with a batch does not hash to its txDataHash.
    error WrongTxData(bytes32 expected, bytes32 got);
    /// @notice messagesRoot is zero (use EMPTY_MESSAGES_ROOT for a batch without messages).
    error ZeroMessagesRoot();
    /// @notice lastDepositNonce is below the previous batch's (`min`) or above depositCount (`max`).
    error DepositNonceOutOfRange(uint64 got, uint64 min, uint64 max);
    /// @notice depositsHash is not the running hash of the deposits up to lastDepositNonce: the batch
    /// credited deposits other than the ones made here (e.g. one an L1 reorg took away).
    error WrongDepositsHash(bytes32 expected, bytes32 got);
    /// @notice {settle} with a zero balances root.
    error ZeroBalancesRoot();

    // ------------------------------------------------------------------ errors: deposits
    /// @notice {deposit} without ETH.
    error ZeroDeposit();
    /// @notice {deposit} to address(0).
    error ZeroRecipient();
    /// @notice Plain ETH transfer to the contract; call {deposit} instead.
    error UseDeposit();
    /// @notice {deposit} to an L2 system contract (the L2MessagePasser), whose balance the final
    /// balances leave out: the ETH would be locked forever.
    error RecipientIsSystemContract(address to);

    // ------------------------------------------------------------------ errors: lifecycle
    /// @notice The value sent at deployment differs from `genesisSupply_`.
    error GenesisSupplyMismatch(uint256 sent, uint256 genesisSupply);
    /// @notice The deadline given at deployment is not in the future.
    error DeadlineInPast(uint64 deadline, uint256 now_);
    /// @notice Only the owner may do this.
    error NotOwner(address caller);
    /// @notice The layer is closing or closed (deadline passed or {close} called), or settled: no
    /// deposits, join requests or join approvals.
    error LayerClosing();
    /// @notice The layer was already closed.
    error AlreadyClosed();
    /// @notice The layer is settled: no more batches or signer-set changes.
    error LayerSettled();
    /// @notice The layer is not settled yet.
    error NotSettled();
    /// @notice The account's balance was already claimed.
    error AlreadyClaimed(address account);
    /// @notice The proof does not show (account, amount) in the final balances root.
    error InvalidBalanceProof(address account, uint256 amount);
    /// @notice The final batch's challenge window has not passed; claimable from `claimableAt`.
    error ClaimWindowOpen(uint256 claimableAt);
    /// @notice The deposit was credited on L2 (nonce <= the final batch's lastDepositNonce), does not
    /// exist, was already refunded, or the given fields do not match it.
    error NotRefundable(uint64 nonce);
    /// @notice Paying out failed (the recipient rejected the ETH).
    error PaymentFailed(address to, uint256 amount);

    // ------------------------------------------------------------------ errors: relaying
    /// @notice No accepted batch with this index (0 is the genesis, which has no messages).
    error UnknownBatch(uint64 batchIndex);
    /// @notice The batch's challenge window has not passed; relayable from timestamp `relayableAt`.
    error ChallengeWindowOpen(uint64 batchIndex, uint256 relayableAt);
    /// @notice The message was already relayed.
    error AlreadyRelayed(bytes32 messageHash);
    /// @notice The proof does not show the message in the batch's messagesRoot.
    error InvalidMessageProof(bytes32 messageHash);
    /// @notice Messages cannot target this contract or its forwarder.
    error TargetIsLayer();
    /// @notice The contract holds less ETH than the message's value.
    error InsufficientBalance(uint256 value, uint256 balance);
    /// @notice The target call failed without revert data (with revert data, that data is re-thrown).
    error MessageCallFailed(bytes32 messageHash);

    // ------------------------------------------------------------------ errors: membership
    /// @notice {requestJoin} with a zero consensus key.
    error ZeroConsensusKey();
    /// @notice {requestJoin}'s key proof is not a 64-byte ed25519 signature.
    error KeyProofWrongLength(uint256 length);
    /// @notice `operator` is already in the current signer set.
    error AlreadyMember(address operator);
    /// @notice `operator` already has a pending join request ({cancelJoin} it first).
    error JoinPending(address operator);
    /// @notice `operator`'s join was approved and the cluster has not applied it yet.
    error JoinApproved(address operator);
    /// @notice `operator` has no pending join request.
    error NoJoinRequest(address operator);
    /// @notice `operator` is not in the current signer set.
    error NotMember(address operator);
    /// @notice Only the operator itself or the owner may announce its leave.
    error NotOperatorOrOwner(address caller);
    /// @notice A leave of `operator` was already announced and not applied yet.
    error AlreadyLeaving(address operator);
    /// @notice Announcing `operator`'s leave would, with the leaves already announced, empty the
    /// signer set.
    error WouldEmptySignerSet(address operator);
    /// @notice The consensus key is already `owner_`'s.
    error ConsensusKeyInUse(bytes32 consensusKey, address owner_);
    /// @notice `pending` membership changes wait already, the most the current set allows (`max`,
    /// a third of it): one key cannot replace the set faster than one third per {membershipDelay}.
    error TooManyPendingChanges(uint256 pending, uint256 max);
    /// @notice {updateSigners} without an announced, not yet applied membership change.
    error NoPendingChange();
    /// @notice Membership change `nonce` applies from `effectiveAt` only.
    error ChangeNotDue(uint64 nonce, uint256 effectiveAt);
    /// @notice The signer-set update follows batch `got`, the last accepted is `expected`: the
    /// outgoing set's last batch must land first.
    error UpdateNotAfterBatch(uint64 expected, uint64 got);
    /// @notice The new signer set is not the current one with membership change `nonce` applied.
    error SetDoesNotApplyChange(uint64 nonce);

    // disputes and the escape
    /// @notice Only a watcher named at creation may dispute.
    error NotWatcher(address caller);
    /// @notice A watcher is address(0), or named twice.
    error InvalidWatcher(address watcher);
    /// @notice The grace period must be nonzero.
    error ZeroGracePeriod();
    /// @notice The batch's challenge window is over (or the batch is unknown): it can no longer be
    /// disputed.
    error DisputeWindowClosed(uint64 index, uint256 closedAt);
    /// @notice A batch at or before this one is disputed already.
    error AlreadyDisputed(uint64 disputedFrom);
    /// @notice Batch `disputedFrom` is disputed: nothing at or after it lands or pays out.
    error LayerDisputed(uint64 disputedFrom);
    /// @notice The batch is disputed (at or after {disputedFrom}): its messages are never relayed.
    error BatchIsDisputed(uint64 index);
    /// @notice No final batch landed by the escape time: the layer takes no more batches.
    error EscapeTimeReached(uint256 escapeOpensAt);
    /// @notice The escape opens at `opensAt` (type(uint256).max: not while the layer is live and
    /// undisputed).
    error EscapeNotOpen(uint256 opensAt);
    /// @notice The proof does not show the account (or slot) in the escape batch's state.
    error InvalidAccountProof(address account, TrieProof.ProofError reason);
    /// @notice The account has code: only its named L1 recipient may be paid ({escapeTo}).
    error AccountHasCode(address account);
    /// @notice The account holds no ETH in the escape batch's state.
    error NothingToEscape(address account);
    /// @notice The account named no L1 recipient (or another one) in the escape batch's state.
    error WrongRecipient(address account, address named);
    /// @notice Escapes against the genesis state would pay more than the genesis supply locked at
    /// deployment: the genesis state root (which nobody on L1 can check) claims more than the
    /// genesis holds, and the rest belongs to depositors (refunded).
    error OverGenesisSupply(uint256 escaped, uint256 genesisSupply);

    /// @param signers_ The initial signer set (epoch 0): settlement addresses sorted strictly ascending,
    /// no address(0).
    /// @param threshold_ Signatures needed: `threshold_ <= signers_.length` and `3 * threshold_ > 2 * signers_.length`.
    /// @param genesisBlockHash_ Hash of the L2 genesis block (nonzero).
    /// @param challengeWindow_ Seconds between a batch's acceptance and the relay of its messages.
    /// @param deadline_ L1 timestamp at which the layer ends (0: none); must be in the future.
    /// @param genesisSupply_ Total wei the L2 genesis allocates; exactly this must be sent along.
    /// @param consensusKeys_ The initial members' consensus keys, in the order of `signers_`
    /// (nonzero, distinct).
    /// @param dataAvailability_ {DA_COMMITTEE}, {DA_L1_CALLDATA} or {DA_L1_BLOBS}: where batch data goes,
    /// for the layer's life.
    /// @param recourse The genesis state root, the grace period and the watchers ({Recourse}).
    /// The deployer becomes the {owner}.
    constructor(
        address[] memory signers_,
        uint256 threshold_,
        bytes32 genesisBlockHash_,
        uint64 challengeWindow_,
        uint64 deadline_,
        uint256 genesisSupply_,
        bytes32[] memory consensusKeys_,
        uint8 dataAvailability_,
        Recourse memory recourse
    ) payable EIP712("FlashLayer", "1") {
        if (genesisBlockHash_ == bytes32(0)) revert ZeroGenesisHash();
        if (recourse.genesisStateRoot == bytes32(0)) revert ZeroStateRoot();
        if (recourse.gracePeriod == 0) revert ZeroGracePeriod();
        for (uint256 i = 0; i < recourse.watchers.length; ++i) {
            address w = recourse.watchers[i];
            if (w == address(0) || isWatcher[w]) revert InvalidWatcher(w);
            isWatcher[w] = true;
        }
        _watchers = recourse.watchers;
        gracePeriod = recourse.gracePeriod;
        if (dataAvailability_ > DA_L1_BLOBS) revert UnknownDataAvailability(dataAvailability_);
        if (consensusKeys_.length != signers_.length) {
            revert ConsensusKeysMismatch(consensusKeys_.length, signers_.length);
        }
        // forge-lint: disable-next-line(block-timestamp)
        if (deadline_ != 0 && deadline_ <= block.timestamp) revert DeadlineInPast(deadline_, block.timestamp);
        if (msg.value != genesisSupply_) revert GenesisSupplyMismatch(msg.value, genesisSupply_);
        _validateSignerSet(signers_, threshold_);
        genesisBlockHash = genesisBlockHash_;
        challengeWindow = challengeWindow_;
        owner = msg.sender;
        deadline = deadline_;
        genesisSupply = genesisSupply_;
        dataAvailability = dataAvailability_;
        _batches[0] = BatchRecord({
            batchHash: bytes32(0),
            lastBlockHash: genesisBlockHash_,
            stateRoot: recourse.genesisStateRoot,
            messagesRoot: bytes32(0),
            lastBlock: 0,
            lastDepositNonce: 0,
            acceptedBlock: uint64(block.number),
            acceptedAt: uint64(block.timestamp)
        });
        _setSigners(signers_, threshold_, 0);
        for (uint256 i = 0; i < consensusKeys_.length; ++i) {
            _claimKey(consensusKeys_[i], signers_[i]);
            consensusKeyOf[signers_[i]] = consensusKeys_[i];
        }
        forwarder = new MessageForwarder();
        stateProofs = new StateProofs();
    }

    /// @notice Rejects plain ETH transfers: deposits must go through {deposit} so they get a nonce and
    /// a recipient.
    receive() external payable {
        revert UseDeposit();
    }

    // ================================================================== views

    /// @notice The EIP-712 domain separator (name "FlashLayer", version "1", this chain, this contract).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice The EIP-712 struct hash (hashStruct) of a batch; what `prevBatchHash` refers to.
    function batchHash(Batch calldata b) public pure returns (bytes32) {
        return keccak256(abi.encode(BATCH_TYPEHASH, b));
    }

    /// @notice The EIP-712 digest the signers sign for a batch: keccak256(0x1901 ++ domainSeparator ++ batchHash).
    function batchDigest(Batch calldata b) public view returns (bytes32) {
        return _hashTypedDataV4(batchHash(b));
    }

    /// @notice The EIP-712 digest the current signers sign to install `newSigners` / `newThreshold`
    /// as the set of epoch `newEpoch` (which must be {epoch} + 1 to be accepted), right after batch
    /// `afterBatch`, applying membership change `membershipNonce_`.
    function signerSetUpdateDigest(
        uint64 newEpoch,
        uint64 afterBatch,
        uint64 membershipNonce_,
        address[] calldata newSigners,
        uint256 newThreshold
    ) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    SIGNER_SET_UPDATE_TYPEHASH,
                    newEpoch,
                    afterBatch,
                    membershipNonce_,
                    keccak256(abi.encodePacked(newSigners)),
                    newThreshold
                )
            )
        );
    }

    /// @notice The EIP-712 digest the signers sign for the final batch: the batch and the root of the
    /// final balances.
    function finalBatchDigest(Batch calldata b, bytes32 balancesRoot_) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(FINAL_BATCH_TYPEHASH, batchHash(b), balancesRoot_)));
    }

    /// @notice Whether the layer has ended on L1: closed by the owner or past its deadline. Deposits
    /// stop; the cluster ends the L2 chain and signs the final batch.
    function isClosing() public view returns (bool) {
        // forge-lint: disable-next-line(block-timestamp)
        return closedAt != 0 || (deadline != 0 && block.timestamp >= deadline);
    }

    /// @notice The leaf of `account`'s final balance in {balancesRoot}: the tree of {MessageTree} over
    /// `keccak256(abi.encode(keccak256(abi.encodePacked(account)), amount))`, leaves sorted by hashed
    /// address (the L2 state keys accounts by hashed address).
    function balanceLeaf(address account, uint256 amount) public pure returns (bytes32) {
        return MessageTree.leaf(keccak256(abi.encode(keccak256(abi.encodePacked(account)), amount)));
    }

    /// @notice The leaf of `account`'s final balance when it named an L1 recipient on L2
    /// (`L2MessagePasser.setClaimRecipient`): `keccak256(abi.encode(keccak256(account), amount,
    /// recipient))` under the same tree rules. Such a balance is paid only to `recipient`
    /// ({claimTo}): an L2 contract's address on L1 is usually nobody's, or someone else's.
    function balanceLeafTo(address account, uint256 amount, address recipient) public pure returns (bytes32) {
        return MessageTree.leaf(keccak256(abi.encode(keccak256(abi.encodePacked(account)), amount, recipient)));
    }

    /// @notice The current signer set, sorted ascending.
    function signers() external view returns (address[] memory) {
        return _signers;
    }

    /// @notice The number of signatures a batch or signer-set update needs.
    function threshold() external view returns (uint256) {
        return _threshold;
    }

    /// @notice Whether `account` is in the current signer set.
    function isSigner(address account) public view returns (bool) {
        return _memberOf[account].lastSet == uint256(epoch) + 1;
    }

    /// @notice Whether `operator` has an approved join ({MembershipChanged} with `joining`) that the
    /// cluster has not applied yet (no signer set containing it installed since).
    function joining(address operator) external view returns (bool) {
        return _memberOf[operator].joining;
    }

    /// @notice Whether `operator` is a member with an announced leave ({requestLeave}) that the cluster
    /// has not applied yet (false again once a signer set without it is installed).
    function leaving(address operator) external view returns (bool) {
        Member memory m = _memberOf[operator];
        return m.leaving && m.lastSet == uint256(epoch) + 1;
    }

    /// @notice The running hash of deposits 1..`nonce`: bytes32(0) for 0, then
    /// `keccak256(abi.encode(depositsHash(nonce - 1), from, to, amount))` per {Deposit}. A batch
    /// states the value at its lastDepositNonce.
    function depositsHash(uint64 nonce) external view returns (bytes32) {
        return _depositsHash[nonce];
    }

    /// @notice How long a membership change waits between its announcement and the earliest
    /// {updateSigners} that applies it: the challenge window, fixed at creation.
    function membershipDelay() public view returns (uint64) {
        return challengeWindow;
    }

    /// @notice What a joining operator's consensus key signs (ed25519) to show it holds the key:
    /// binds this layer (chain and contract), the operator and the key.
    function joinProofMessage(address operator, bytes32 consensusKey) public view returns (bytes32) {
        return keccak256(abi.encode(keccak256("flashlayer join"), block.chainid, address(this), operator, consensusKey));
    }

    /// @notice Membership change `nonce` (zero fields: none).
    function membershipChange(uint64 nonce) external view returns (Change memory) {
        return _changes[nonce];
    }

    /// @notice How many membership changes may wait at once: a third of the current set (at least
    /// one).
    function maxPendingChanges() public view returns (uint256) {
        uint256 f = (_signers.length - 1) / 3;
        return f == 0 ? 1 : f;
    }

    /// @notice Struct hash of the last accepted batch (bytes32(0) before the first).
    function lastBatchHash() external view returns (bytes32) {
        return _batches[lastBatchIndex].batchHash;
    }

    /// @notice The latest settled L2 block (0 before the first batch).
    function lastBlock() external view returns (uint64) {
        return _batches[lastBatchIndex].lastBlock;
    }

    /// @notice The record of accepted batch `index` (index 0: the genesis record; above
    /// {lastBatchIndex}: all zero).
    function batch(uint64 index) external view returns (BatchRecord memory) {
        return _batches[index];
    }

    /// @notice The watchers named at creation: who may {dispute}.
    function watchers() external view returns (address[] memory) {
        return _watchers;
    }

    /// @notice The L1 time at which, if no final batch has landed by then, the layer takes no more
    /// batches and the escape opens: {gracePeriod} after the last accepted batch (operators gone), or
    /// after the layer's end (its {deadline}, or when the owner closed it), whichever comes first.
    function escapeOpensAt() public view returns (uint256 opensAt) {
        uint256 grace = gracePeriod;
        opensAt = uint256(_batches[lastBatchIndex].acceptedAt) + grace;
        if (deadline != 0 && deadline + grace < opensAt) opensAt = deadline + grace;
        if (closedTime != 0 && closedTime + grace < opensAt) opensAt = closedTime + grace;
    }

    /// @notice Where the escape stands: whether accounts may {escape} now, the batch whose state they
    /// escape with, and from when. After a dispute: the batch before {disputedFrom}, once its own
    /// challenge window is over (so no later dispute can move it). Without one, while no final batch
    /// landed: the last accepted batch, from {escapeOpensAt} (and its window's end). Once the final
    /// batch landed undisputed: never (`opensAt` type(uint256).max; balances are claimed instead).
    function escapeStatus() public view returns (bool open, uint64 index, uint256 opensAt) {
        if (disputedFrom != 0) {
            index = disputedFrom - 1;
            opensAt = uint256(_batches[index].acceptedAt) + challengeWindow;
        } else if (settled) {
            return (false, lastBatchIndex, type(uint256).max);
        } else {
            index = lastBatchIndex;
            opensAt = escapeOpensAt();
            uint256 final_ = uint256(_batches[index].acceptedAt) + challengeWindow;
            if (final_ > opensAt) opensAt = final_;
        }
        // forge-lint: disable-next-line(block-timestamp)
        open = block.timestamp >= opensAt;
    }

    /// @notice During a {relayMessage} target call, the L2 address that sent the message; address(0)
    /// otherwise. Targets are called by the {forwarder}: they check `msg.sender == forwarder()` and
    /// read the sender from the forwarder's `l2Sender()` (or from here).
    function l2Sender() external view returns (address) {
        return _l2Sender;
    }

    // ================================================================== settlement

    /// @notice Accepts the next batch, signed by at least {threshold} members of the current signer set.
    /// @param b The batch (see {Batch} for the rules each field must satisfy).
    /// @param signatures 65-byte r || s || v signatures (v 27 or 28, low s) of {batchDigest}`(b)`,
    /// ordered by strictly ascending signer address.
    /// On a {DA_L1_BLOBS} layer the call must be an EIP-4844 transaction whose blobs carry the
    /// batch data: `b.txDataHash` is checked against their versioned hashes, which are recorded.
    function submitBatch(Batch calldata b, bytes[] calldata signatures) external {
        if (dataAvailability == DA_L1_CALLDATA) revert DataRequired();
        _submitBatch(b, signatures);
    }

    /// @notice {submitBatch} with the batch's data, which must hash to `b.txDataHash`: the data is
    /// then on L1 for anyone to rebuild the chain from (`flashlayer verify`). Required on a
    /// {DA_L1_CALLDATA} layer, allowed on any.
    /// @param data The batch data (docs/settlement.md, "Batch data").
    function submitBatchWithData(Batch calldata b, bytes[] calldata signatures, bytes calldata data) external {
        _checkData(b, data);
        _submitBatch(b, signatures);
    }

    function _submitBatch(Batch calldata b, bytes[] calldata signatures) private {
        if (settled) revert LayerSettled();
        _checkLive();
        bytes32 h = _checkBatch(b);
        if (dataAvailability == DA_L1_BLOBS) _recordBlobs(b);
        _checkQuorum(_hashTypedDataV4(h), signatures);
        _acceptBatch(b, h);
    }

    /// @notice Accepts the final batch and settles the layer: like {submitBatch}, but the signers sign
    /// {finalBatchDigest}`(b, balancesRoot_)`, which adds the root of every L2 account's final ETH
    /// balance. From then on balances are claimable ({claim}) and uncredited deposits refundable.
    /// @param b The final batch (same rules as {submitBatch}).
    /// @param balancesRoot_ Root of the final balances (see {balanceLeaf}).
    /// @param signatures As for {submitBatch}, over the final batch digest.
    function settle(Batch calldata b, bytes32 balancesRoot_, bytes[] calldata signatures) external {
        if (dataAvailability == DA_L1_CALLDATA) revert DataRequired();
        _settle(b, balancesRoot_, signatures);
    }

    /// @notice {settle} with the final batch's data (see {submitBatchWithData}).
    function settleWithData(Batch calldata b, bytes32 balancesRoot_, bytes[] calldata signatures, bytes calldata data)
        external
    {
        _checkData(b, data);
        _settle(b, balancesRoot_, signatures);
    }

    function _settle(Batch calldata b, bytes32 balancesRoot_, bytes[] calldata signatures) private {
        if (settled) revert LayerSettled();
        _checkLive();
        if (balancesRoot_ == bytes32(0)) revert ZeroBalancesRoot();
        bytes32 h = _checkBatch(b);
        if (dataAvailability == DA_L1_BLOBS) _recordBlobs(b);
        _checkQuorum(_hashTypedDataV4(keccak256(abi.encode(FINAL_BATCH_TYPEHASH, h, balancesRoot_))), signatures);
        _acceptBatch(b, h);
        settled = true;
        balancesRoot = balancesRoot_;
        emit Settled(b.index, balancesRoot_);
    }

    /// @notice Ends the layer now (before its deadline): no more deposits; the cluster sees the close
    /// through its L1 watcher, ends the L2 chain and settles. Owner only, once.
    function close() external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (closedAt != 0) revert AlreadyClosed();
        if (settled) revert LayerSettled();
        closedAt = uint64(block.number);
        closedTime = uint64(block.timestamp);
        emit Closed(uint64(block.number));
    }

    /// @notice Applies the next membership change ({appliedMembershipNonce} + 1, once its
    /// `effectiveAt` has passed) to the signer set: `newSigners` must be the current set with that
    /// operator added (a join) or removed (a leave), and the current set signs it with at least
    /// {threshold} signatures over {signerSetUpdateDigest}`(epoch + 1, afterBatch, nonce, newSigners,
    /// newThreshold)`. `afterBatch` is the outgoing set's last batch, which must be the last accepted
    /// one: an update submitted early (by a member, or anyone who saw it gossiped) fails instead of
    /// making that batch unsubmittable. Increments {epoch}. No quorum, and no owner, can install a
    /// set that the announced, delayed changes do not make.
    /// @param newSigners The new set: sorted strictly ascending, no address(0).
    /// @param newThreshold The new threshold: `<= newSigners.length` and `3 * newThreshold > 2 * newSigners.length`.
    /// @param afterBatch {lastBatchIndex}.
    /// @param signatures As for {submitBatch}, by the current set.
    function updateSigners(
        address[] calldata newSigners,
        uint256 newThreshold,
        uint64 afterBatch,
        bytes[] calldata signatures
    ) external {
        if (settled) revert LayerSettled();
        _checkLive();
        if (afterBatch != lastBatchIndex) revert UpdateNotAfterBatch(lastBatchIndex, afterBatch);
        uint64 nonce = appliedMembershipNonce + 1;
        if (nonce > membershipNonce) revert NoPendingChange();
        Change memory c = _changes[nonce];
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < c.effectiveAt) revert ChangeNotDue(nonce, c.effectiveAt);
        _validateSignerSet(newSigners, newThreshold);
        _checkAppliesChange(newSigners, c, nonce);
        uint64 newEpoch = epoch + 1;
        _checkQuorum(signerSetUpdateDigest(newEpoch, afterBatch, nonce, newSigners, newThreshold), signatures);
        appliedMembershipNonce = nonce;
        _setSigners(newSigners, newThreshold, newEpoch);
    }

    // ================================================================== deposits

    /// @notice Deposits `msg.value` wei to `to` on L2. Emits {Deposit} with nonce {depositCount} + 1;
    /// the cluster credits deposits on L2 in nonce order.
    /// @param to The L2 recipient (not address(0)).
    function deposit(address to) external payable {
        if (msg.value == 0) revert ZeroDeposit();
        if (to == address(0)) revert ZeroRecipient();
        if (to == L2_MESSAGE_PASSER) revert RecipientIsSystemContract(to);
        if (settled || isClosing()) revert LayerClosing();
        _checkLive();
        uint64 nonce = ++depositCount;
        _depositsHash[nonce] = keccak256(abi.encode(_depositsHash[nonce - 1], msg.sender, to, msg.value));
        emit Deposit(nonce, msg.sender, to, msg.value);
    }

    // ================================================================== membership

    /// @notice Asks to join the cluster: the sender is the operator's settlement address (so nobody can
    /// enrol someone else's address) and `consensusKey` its consensus public key. The owner decides
    /// with {approveJoin}; until then the sender may {cancelJoin}. Emits {JoinRequested}.
    /// @param consensusKey The operator's consensus (HotStuff) public key (nonzero).
    /// @param keyProof The ed25519 signature (64 bytes) by `consensusKey` over
    /// {joinProofMessage}`(msg.sender, consensusKey)`, kept for the owner to check.
    function requestJoin(bytes32 consensusKey, bytes calldata keyProof) external {
        if (consensusKey == bytes32(0)) revert ZeroConsensusKey();
        if (keyProof.length != 64) revert KeyProofWrongLength(keyProof.length);
        if (settled || isClosing()) revert LayerClosing();
        Member storage m = _memberOf[msg.sender];
        if (m.lastSet == uint256(epoch) + 1) revert AlreadyMember(msg.sender);
        if (m.joining) revert JoinApproved(msg.sender);
        if (pendingJoin[msg.sender] != bytes32(0)) revert JoinPending(msg.sender);
        address keyOwner = operatorOfKey[consensusKey];
        if (keyOwner != address(0) && keyOwner != msg.sender) revert ConsensusKeyInUse(consensusKey, keyOwner);
        pendingJoin[msg.sender] = consensusKey;
        pendingJoinProof[msg.sender] = keyProof;
        emit JoinRequested(msg.sender, consensusKey);
    }

    /// @notice Withdraws the sender's pending join request. Emits {JoinCancelled}.
    function cancelJoin() external {
        if (pendingJoin[msg.sender] == bytes32(0)) revert NoJoinRequest(msg.sender);
        delete pendingJoin[msg.sender];
        delete pendingJoinProof[msg.sender];
        emit JoinCancelled(msg.sender);
    }

    /// @notice Approves `operator`'s pending join request (owner only, not once closing or settled):
    /// clears the request, records its consensus key ({consensusKeyOf}), marks the join as not yet
    /// applied ({joining}) and emits {MembershipChanged}`(++membershipNonce, operator, key, true)`. The
    /// signer set does not change here: the cluster applies the join at a batch boundary and installs
    /// the new set with {updateSigners}.
    /// @param operator The requesting operator's settlement address.
    function approveJoin(address operator) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (settled || isClosing()) revert LayerClosing();
        bytes32 key = pendingJoin[operator];
        if (key == bytes32(0)) revert NoJoinRequest(operator);
        Member storage m = _memberOf[operator];
        // unreachable while requestJoin refuses members and updateSigners only applies approved
        // changes; kept so that approval never re-announces a member
        if (m.lastSet == uint256(epoch) + 1) revert AlreadyMember(operator);
        delete pendingJoin[operator];
        delete pendingJoinProof[operator];
        _claimKey(key, operator);
        consensusKeyOf[operator] = key;
        m.joining = true;
        _announce(operator, key, true);
    }

    /// @notice Announces that member `operator` leaves the cluster (callable by the operator or the
    /// owner; also while closing, not once settled). Emits {MembershipChanged}`(++membershipNonce,
    /// operator, consensusKeyOf[operator], false)`; the operator stays a signer until the cluster
    /// installs a set without it ({updateSigners}). Refused when the set would become empty once this
    /// and the leaves already announced are applied (e.g. the only signer).
    /// @param operator A current signer without an announced leave.
    function requestLeave(address operator) external {
        if (settled) revert LayerSettled();
        if (msg.sender != operator && msg.sender != owner) revert NotOperatorOrOwner(msg.sender);
        Member storage m = _memberOf[operator];
        if (m.lastSet != uint256(epoch) + 1) revert NotMember(operator);
        if (m.leaving) revert AlreadyLeaving(operator);
        uint64 pendingLeaves = _pendingLeaves + 1;
        if (_signers.length <= pendingLeaves) revert WouldEmptySignerSet(operator);
        m.leaving = true;
        _pendingLeaves = pendingLeaves;
        _announce(operator, consensusKeyOf[operator], false);
    }

    // ================================================================== after settlement

    /// @notice Pays `account` its final L2 ETH balance, proven against {balancesRoot}, once the final
    /// batch's challenge window has passed. Callable by anyone (the ETH goes to `account`), once per
    /// account.
    /// @param account The L2 account (same address on L1).
    /// @param amount Its final balance in wei.
    /// @param proof Merkle proof of {balanceLeaf}`(account, amount)`.
    function claim(address account, uint256 amount, bytes32[] calldata proof) external nonReentrant {
        _claim(account, amount, account, balanceLeaf(account, amount), proof);
    }

    /// @notice Pays `account`'s final L2 ETH balance to the L1 `recipient` it named on L2
    /// (`L2MessagePasser.setClaimRecipient`), proven against {balancesRoot} with
    /// {balanceLeafTo}`(account, amount, recipient)`; otherwise as {claim}. Callable by anyone (the
    /// ETH goes to `recipient`), once per account.
    function claimTo(address account, uint256 amount, address recipient, bytes32[] calldata proof)
        external
        nonReentrant
    {
        _claim(account, amount, recipient, balanceLeafTo(account, amount, recipient), proof);
    }

    function _claim(address account, uint256 amount, address payee, bytes32 leaf, bytes32[] calldata proof) private {
        if (!settled) revert NotSettled();
        if (disputedFrom != 0) revert LayerDisputed(disputedFrom);
        uint256 claimableAt = uint256(_batches[lastBatchIndex].acceptedAt) + challengeWindow;
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < claimableAt) revert ClaimWindowOpen(claimableAt);
        if (claimed[account]) revert AlreadyClaimed(account);
        if (!MerkleProof.verifyCalldata(proof, balancesRoot, leaf)) revert InvalidBalanceProof(account, amount);
        claimed[account] = true;
        _pay(payee, amount);
        emit Claimed(account, amount);
    }

    /// @notice Pays back deposit `nonce` to its sender when the layer never credited it: it was made
    /// after the last credited deposit of the batch that pays out, which is the final batch once its
    /// challenge window has passed, or the escape batch once the escape is open ({escapeStatus}).
    /// Callable by anyone, once.
    /// @param nonce The deposit's nonce; `from`, `to`, `amount` as in its {Deposit} event.
    function refundDeposit(uint64 nonce, address from, address to, uint256 amount) external nonReentrant {
        BatchRecord storage last;
        if (settled && disputedFrom == 0) {
            last = _batches[lastBatchIndex];
            // Like claims: a final batch is trusted only once its window has passed.
            uint256 refundableAt = uint256(last.acceptedAt) + challengeWindow;
            // forge-lint: disable-next-line(block-timestamp)
            if (block.timestamp < refundableAt) revert ClaimWindowOpen(refundableAt);
        } else {
            (bool open, uint64 index, uint256 opensAt) = escapeStatus();
            if (!open) {
                if (!settled && disputedFrom == 0) revert NotSettled();
                revert EscapeNotOpen(opensAt);
            }
            last = _batches[index];
        }
        if (nonce <= last.lastDepositNonce || nonce > depositCount || refunded[nonce]) revert NotRefundable(nonce);
        if (_depositsHash[nonce] != keccak256(abi.encode(_depositsHash[nonce - 1], from, to, amount))) {
            revert NotRefundable(nonce);
        }
        refunded[nonce] = true;
        _pay(from, amount);
        emit DepositRefunded(nonce, from, amount);
    }

    // ================================================================== disputes and the escape

    /// @notice Disputes accepted batch `index` (watchers only, within the batch's challenge window):
    /// it and every later batch never pay out, the layer takes no more batches or deposits, and the
    /// escape opens from the batch before it once that one's window is over. Final: L1 cannot judge
    /// EVM execution, so nobody (owner, quorum, watchers) can withdraw a dispute. An earlier batch
    /// still in its window may be disputed after a later one.
    /// @param index An accepted batch, within its challenge window, before {disputedFrom}.
    function dispute(uint64 index) external {
        if (!isWatcher[msg.sender]) revert NotWatcher(msg.sender);
        if (disputedFrom != 0 && index >= disputedFrom) revert AlreadyDisputed(disputedFrom);
        uint256 closesAt = uint256(_batches[index].acceptedAt) + challengeWindow;
        // forge-lint: disable-next-line(block-timestamp)
        if (index == 0 || index > lastBatchIndex || block.timestamp >= closesAt) {
            revert DisputeWindowClosed(index, closesAt);
        }
        disputedFrom = index;
        disputedBy = msg.sender;
        emit Disputed(index, msg.sender);
    }

    /// @notice Pays `account` (an account without code) its ETH balance in the escape batch's state
    /// ({escapeStatus}), proven by `accountProof` (the `accountProof` of `eth_getProof` at that batch's
    /// last block) against its state root. Callable by anyone (the ETH goes to `account`), once per
    /// account; an account paid by {claim} or an earlier escape is refused.
    /// @param account The L2 account (same address on L1).
    /// @param accountProof The Merkle-Patricia proof of the account, root node first.
    function escape(address account, bytes[] calldata accountProof) external nonReentrant {
        (uint64 index, bytes32 stateRoot) = _escapeBatch(account);
        (uint256 balance, bytes32 codeHash,) = _accountAt(stateRoot, account, accountProof);
        if (codeHash != EMPTY_CODE_HASH) revert AccountHasCode(account);
        _escape(account, account, index, balance);
    }

    /// @notice Pays `account`'s ETH balance in the escape batch's state to the L1 `recipient` it named
    /// on L2 (`L2MessagePasser.setClaimRecipient`): how an L2 contract's ETH gets out. Proves the
    /// account, the L2MessagePasser account and the named recipient (its `claimRecipientOf` slot)
    /// against the escape batch's state root. Callable by anyone (the ETH goes to `recipient`), once
    /// per account.
    /// @param accountProof The account's proof (as for {escape}).
    /// @param passerProof The L2MessagePasser's account proof.
    /// @param recipientProof The `storageProof` of slot `keccak256(abi.encode(keccak256(account),
    /// CLAIM_RECIPIENT_SLOT))` in the L2MessagePasser's storage.
    function escapeTo(
        address account,
        address recipient,
        bytes[] calldata accountProof,
        bytes[] calldata passerProof,
        bytes[] calldata recipientProof
    ) external nonReentrant {
        (uint64 index, bytes32 stateRoot) = _escapeBatch(account);
        (uint256 balance,,) = _accountAt(stateRoot, account, accountProof);
        address named = _namedRecipient(stateRoot, account, passerProof, recipientProof);
        if (named != recipient || recipient == address(0)) revert WrongRecipient(account, named);
        _escape(account, recipient, index, balance);
    }

    // ================================================================== messages

    /// @notice Relays an L2->L1 message sent through the L2MessagePasser: proves it against the
    /// messagesRoot of accepted batch `batchIndex` (after its challenge window), marks it relayed and
    /// calls `target` with `value` wei and `data`. If that call fails the whole relay reverts with the
    /// call's revert data, so the message stays relayable. Callable by anyone.
    /// @param batchIndex The accepted batch whose range contains the message.
    /// @param nonce The message's nonce (from its MessageSent event).
    /// @param sender The L2 sender.
    /// @param target The L1 address to call.
    /// @param value Wei to send with the call.
    /// @param data Calldata for the call (empty for an ETH withdrawal).
    /// @param proof Merkle proof of the message's leaf in the batch's messagesRoot.
    function relayMessage(
        uint64 batchIndex,
        uint256 nonce,
        address sender,
        address target,
        uint256 value,
        bytes calldata data,
        bytes32[] calldata proof
    ) external nonReentrant {
        if (batchIndex == 0 || batchIndex > lastBatchIndex) revert UnknownBatch(batchIndex);
        if (disputedFrom != 0 && batchIndex >= disputedFrom) revert BatchIsDisputed(batchIndex);
        BatchRecord storage rec = _batches[batchIndex];
        uint256 relayableAt = uint256(rec.acceptedAt) + challengeWindow;
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp < relayableAt) revert ChallengeWindowOpen(batchIndex, relayableAt);
        if (target == address(this) || target == address(forwarder)) revert TargetIsLayer();
        bytes32 h = keccak256(abi.encode(nonce, sender, target, value, data)); // = MessageTree.messageHash
        if (relayed[h]) revert AlreadyRelayed(h);
        if (!MerkleProof.verifyCalldata(proof, rec.messagesRoot, MessageTree.leaf(h))) revert InvalidMessageProof(h);
        if (value > address(this).balance) revert InsufficientBalance(value, address(this).balance);

        relayed[h] = true; // before the call: no re-entrant double relay
        _l2Sender = sender;
        // Through the forwarder: the call comes from an address that holds nothing, never from
        // this contract, so no message can spend what this contract's address owns.
        (bool ok, bytes memory ret) =
            address(forwarder).call{value: value}(abi.encodeCall(MessageForwarder.forward, (target, sender, data)));
        _l2Sender = address(0);
        if (!ok) {
            if (ret.length == 0) revert MessageCallFailed(h);
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        emit MessageRelayed(h, nonce, target, value);
    }

    /// @notice Versioned hashes of the blobs that carried batch `index`'s data (empty unless
    /// {DA_L1_BLOBS}).
    function batchBlobHashes(uint64 index) external view returns (bytes32[] memory) {
        return _batchBlobs[index];
    }

    // ================================================================== internals

    /// Reverts once the layer takes no more batches: disputed, or escape time reached.
    function _checkLive() private view {
        if (disputedFrom != 0) revert LayerDisputed(disputedFrom);
        uint256 opensAt = escapeOpensAt();
        // forge-lint: disable-next-line(block-timestamp)
        if (block.timestamp >= opensAt) revert EscapeTimeReached(opensAt);
    }

    /// The escape batch and its state root, once the escape is open and `account` is unpaid.
    function _escapeBatch(address account) private view returns (uint64 index, bytes32 stateRoot) {
        (bool open, uint64 i, uint256 opensAt) = escapeStatus();
        if (!open) revert EscapeNotOpen(opensAt);
        if (claimed[account]) revert AlreadyClaimed(account);
        return (i, _batches[i].stateRoot);
    }

    /// `account`'s balance, code hash and storage root in the state with root `stateRoot`, from its
    /// Merkle-Patricia proof ({stateProofs} walks it).
    function _accountAt(bytes32 stateRoot, address account, bytes[] calldata proof)
        private
        view
        returns (uint256 balance, bytes32 codeHash, bytes32 storageRoot)
    {
        TrieProof.ProofError err;
        (err, balance, codeHash, storageRoot) = stateProofs.account(stateRoot, account, proof);
        if (err != TrieProof.ProofError.NO_ERROR) {
            // A proof whose last (hash-checked) node leads elsewhere shows the account is absent:
            // nothing to pay. (Whatever a prover sends, these errors only ever refuse a payment.)
            if (
                err == TrieProof.ProofError.MISMATCH_LEAF_PATH_KEY_REMAINDER
                    || err == TrieProof.ProofError.INVALID_PATH_REMAINDER
            ) revert NothingToEscape(account);
            revert InvalidAccountProof(account, err);
        }
    }

    /// The L1 recipient `account` named in the L2MessagePasser's storage (`claimRecipientOf`), from
    /// the passer's account proof and the slot's storage proof (inclusion only: an account that named
    /// nobody has no slot to prove).
    function _namedRecipient(
        bytes32 stateRoot,
        address account,
        bytes[] calldata passerProof,
        bytes[] calldata recipientProof
    ) private view returns (address) {
        (,, bytes32 storageRoot) = _accountAt(stateRoot, L2_MESSAGE_PASSER, passerProof);
        bytes32 key = keccak256(abi.encode(keccak256(abi.encodePacked(account)), CLAIM_RECIPIENT_SLOT));
        (TrieProof.ProofError err, uint256 value) = stateProofs.slot(storageRoot, key, recipientProof);
        if (err != TrieProof.ProofError.NO_ERROR) revert InvalidAccountProof(account, err);
        // casting to 'uint160' is safe: the slot holds an address
        // forge-lint: disable-next-line(unsafe-typecast)
        return address(uint160(value));
    }

    function _escape(address account, address payee, uint64 index, uint256 balance) private {
        if (balance == 0) revert NothingToEscape(account);
        if (index == 0) {
            // The owner supplied the genesis state root and no quorum ever vouched for it: it may
            // pay out only the ETH the owner locked for it, never the depositors'.
            uint256 total = escapedFromGenesis + balance;
            if (total > genesisSupply) revert OverGenesisSupply(total, genesisSupply);
            escapedFromGenesis = total;
        }
        claimed[account] = true;
        _pay(payee, balance);
        emit Escaped(account, payee, index, balance);
    }

    /// Checks that `data` is what `b` commits to.
    function _checkData(Batch calldata b, bytes calldata data) private pure {
        bytes32 h = keccak256(data);
        if (h != b.txDataHash) revert WrongTxData(b.txDataHash, h);
    }

    /// Checks that the blobs of this transaction are the data `b` commits to, and records them.
    function _recordBlobs(Batch calldata b) private {
        bytes32[] memory hashes = new bytes32[](MAX_BATCH_BLOBS);
        uint256 n = 0;
        while (n < MAX_BATCH_BLOBS) {
            bytes32 blob = blobhash(n);
            if (blob == bytes32(0)) break;
            hashes[n] = blob;
            ++n;
        }
        if (n == 0) revert DataRequired();
        // Trim to the blobs present (the array was sized for the most a batch may carry).
        assembly ("memory-safe") {
            mstore(hashes, n)
        }
        bytes32 h = keccak256(abi.encodePacked(hashes));
        if (h != b.txDataHash) revert WrongTxData(b.txDataHash, h);
        _batchBlobs[b.index] = hashes;
        emit BatchBlobs(b.index, hashes);
    }

    /// Checks `b` continues the accepted chain; returns its struct hash.
    function _checkBatch(Batch calldata b) private view returns (bytes32) {
        uint64 index = lastBatchIndex;
        BatchRecord storage prev = _batches[index];
        unchecked {
            ++index;
        }
        if (b.index != index) revert WrongBatchIndex(index, b.index);
        if (b.prevBatchHash != prev.batchHash) revert WrongPrevBatchHash(prev.batchHash, b.prevBatchHash);
        uint64 prevLast = prev.lastBlock;
        if (b.firstBlock != prevLast + 1) revert WrongFirstBlock(prevLast + 1, b.firstBlock);
        if (b.lastBlock < b.firstBlock) revert EmptyRange(b.firstBlock, b.lastBlock);
        if (b.lastBlockHash == bytes32(0)) revert ZeroLastBlockHash();
        if (b.stateRoot == bytes32(0)) revert ZeroStateRoot();
        if (b.txDataHash == bytes32(0)) revert ZeroTxDataHash();
        if (b.messagesRoot == bytes32(0)) revert ZeroMessagesRoot();
        uint64 minNonce = prev.lastDepositNonce;
        uint64 maxNonce = depositCount;
        if (b.lastDepositNonce < minNonce || b.lastDepositNonce > maxNonce) {
            revert DepositNonceOutOfRange(b.lastDepositNonce, minNonce, maxNonce);
        }
        bytes32 deposits = _depositsHash[b.lastDepositNonce];
        if (b.depositsHash != deposits) revert WrongDepositsHash(deposits, b.depositsHash);
        return batchHash(b);
    }

    function _acceptBatch(Batch calldata b, bytes32 h) private {
        uint64 index = b.index;
        lastBatchIndex = index;
        _batches[index] = BatchRecord({
            batchHash: h,
            lastBlockHash: b.lastBlockHash,
            stateRoot: b.stateRoot,
            messagesRoot: b.messagesRoot,
            lastBlock: b.lastBlock,
            lastDepositNonce: b.lastDepositNonce,
            acceptedBlock: uint64(block.number),
            acceptedAt: uint64(block.timestamp)
        });
        emit BatchAccepted(
            index, h, b.firstBlock, b.lastBlock, b.lastBlockHash, b.stateRoot, b.messagesRoot, b.txDataHash
        );
    }

    /// Queues and announces membership change `++membershipNonce`, due after {membershipDelay}.
    function _announce(address operator, bytes32 key, bool joining_) private {
        uint256 pending = membershipNonce - appliedMembershipNonce;
        uint256 max = maxPendingChanges();
        if (pending >= max) revert TooManyPendingChanges(pending, max);
        uint64 nonce = ++membershipNonce;
        uint64 effectiveAt = uint64(block.timestamp) + membershipDelay();
        _changes[nonce] = Change({operator: operator, joining: joining_, effectiveAt: effectiveAt});
        emit MembershipChanged(nonce, operator, key, joining_, effectiveAt);
    }

    /// Gives `key` to `operator`, unless another operator has it.
    function _claimKey(bytes32 key, address operator) private {
        if (key == bytes32(0)) revert ZeroConsensusKey();
        address keyOwner = operatorOfKey[key];
        if (keyOwner == address(0)) operatorOfKey[key] = operator;
        else if (keyOwner != operator) revert ConsensusKeyInUse(key, keyOwner);
    }

    /// Reverts unless `set` (validated: sorted, distinct) is the current set with change `c` applied.
    function _checkAppliesChange(address[] calldata set, Change memory c, uint64 nonce) private view {
        uint256 current = _signers.length;
        if (set.length != (c.joining ? current + 1 : current - 1)) revert SetDoesNotApplyChange(nonce);
        bool seen = false;
        for (uint256 i = 0; i < set.length; ++i) {
            address a = set[i];
            if (a == c.operator) seen = true;
            else if (!isSigner(a)) revert SetDoesNotApplyChange(nonce);
        }
        if (seen != c.joining) revert SetDoesNotApplyChange(nonce);
    }

    function _pay(address to, uint256 amount) private {
        if (amount > address(this).balance) revert InsufficientBalance(amount, address(this).balance);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert PaymentFailed(to, amount);
    }

    /// Reverts unless `signatures` are >= threshold valid signatures of `digest` by distinct members of
    /// the current set, ordered by ascending signer address.
    function _checkQuorum(bytes32 digest, bytes[] calldata signatures) private view {
        uint256 need = _threshold;
        uint256 n = signatures.length;
        if (n < need) revert BelowThreshold(n, need);
        uint256 member = uint256(epoch) + 1;
        address prev = address(0);
        for (uint256 i = 0; i < n; ++i) {
            (address s, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) {
                if (err == ECDSA.RecoverError.InvalidSignatureLength) {
                    revert SignatureWrongLength(i, signatures[i].length);
                }
                if (err == ECDSA.RecoverError.InvalidSignatureS) revert SignatureHighS(i);
                revert InvalidSignature(i);
            }
            if (s <= prev) revert SignersNotAscending(i);
            if (_memberOf[s].lastSet != member) revert NotASigner(i, s);
            prev = s;
        }
    }

    function _validateSignerSet(address[] memory set, uint256 threshold_) private pure {
        uint256 n = set.length;
        if (n == 0) revert EmptySignerSet();
        if (set[0] == address(0)) revert ZeroSignerAddress();
        for (uint256 i = 1; i < n; ++i) {
            if (set[i] <= set[i - 1]) revert SignerSetNotSorted(i);
        }
        if (threshold_ > n || 3 * threshold_ <= 2 * n) revert InvalidThreshold(threshold_, n);
    }

    /// Installs `set` as the set of epoch `newEpoch`. Membership bookkeeping in the same slot write per
    /// member: a newcomer (not in the outgoing set) has its approved join applied and any leave flag of
    /// an earlier membership cleared; a continuing member keeps an announced leave, and those are
    /// counted again (leaves of members not in `set` have been applied).
    function _setSigners(address[] memory set, uint256 threshold_, uint64 newEpoch) private {
        uint64 member = newEpoch + 1; // checked; unreachable overflow (2^64 - 1 set changes)
        uint64 leaves = 0;
        for (uint256 i = 0; i < set.length; ++i) {
            Member storage m = _memberOf[set[i]];
            // in the outgoing set (set of epoch newEpoch - 1) iff lastSet == newEpoch
            bool leaving_ = m.leaving && m.lastSet == newEpoch;
            if (leaving_) ++leaves;
            m.lastSet = member;
            m.joining = false;
            m.leaving = leaving_;
        }
        if (_pendingLeaves != leaves) _pendingLeaves = leaves;
        _signers = set;
        // casting to 'uint64' is safe because _validateSignerSet checked threshold_ <= set.length
        // forge-lint: disable-next-line(unsafe-typecast)
        _threshold = uint64(threshold_);
        epoch = newEpoch;
        emit SignerSetUpdated(newEpoch, set, threshold_);
    }
}

/// @title MessageForwarder
/// @notice Makes the L1 calls of relayed L2->L1 messages for its {FlashLayer} (which deploys it): the
/// target sees this contract as `msg.sender` and reads the message's L2 sender from {l2Sender}. It
/// holds nothing (each call passes on exactly the value it came with), so a message that names any
/// target and data can only spend that message's own value, never assets sent to the bridge's
/// address.
contract MessageForwarder {
    /// @notice The FlashLayer that deployed this forwarder: the only caller of {forward}.
    address public immutable layer;
    /// The L2 sender of the message being forwarded (only set during the target call).
    address private transient _l2Sender;

    /// @notice {forward} called by someone other than the layer.
    error NotLayer(address caller);

    constructor() {
        layer = msg.sender;
    }

    /// @notice Calls `target` with the call's value and `data` on behalf of L2 account `l2Sender_`;
    /// bubbles the target's revert data up.
    function forward(address target, address l2Sender_, bytes calldata data) external payable {
        if (msg.sender != layer) revert NotLayer(msg.sender);
        _l2Sender = l2Sender_;
        (bool ok, bytes memory ret) = target.call{value: msg.value}(data);
        _l2Sender = address(0);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    /// @notice During a forwarded call, the L2 address that sent the message (targets check
    /// `msg.sender == FlashLayer(...).forwarder()` first); address(0) otherwise.
    function l2Sender() external view returns (address) {
        return _l2Sender;
    }
}
