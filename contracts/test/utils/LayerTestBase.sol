// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TestBase} from "./TestBase.sol";
import {FlashLayer, MessageForwarder} from "../../src/FlashLayer.sol";
import {MessageTree} from "../../src/MessageTree.sol";

/// @notice An L1 contract that messages can call: records the call, or fails on demand. Relayed
/// calls come from the layer's {MessageForwarder}, which tells the L2 sender.
contract MessageTarget {
    uint256 public x;
    address public caller;
    address public l2Sender;
    uint256 public received;
    bool public failing;

    error Boom(uint256 x);

    function setFailing(bool f) external {
        failing = f;
    }

    function ping(uint256 x_) external payable {
        if (failing) revert Boom(x_);
        x = x_;
        caller = msg.sender;
        l2Sender = MessageForwarder(msg.sender).l2Sender();
        received = msg.value;
    }
}

/// @notice Shared fixtures for the FlashLayer tests: a 3-of-4 layer with signer keys sorted by address,
/// batch builders, signing and message-tree helpers.
abstract contract LayerTestBase is TestBase {
    /// secp256k1 group order
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    bytes32 internal constant GENESIS = keccak256("flashlayer test genesis");
    uint64 internal constant WINDOW = 1 hours;
    bytes32 internal constant GENESIS_STATE = keccak256("flashlayer test genesis state");
    /// Long enough that no test but the escape tests reaches it.
    uint64 internal constant GRACE = 3650 days;
    address internal constant WATCHER = address(0x3a7C4);
    bytes32 internal constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    struct Message {
        uint256 nonce;
        address sender;
        address target;
        uint256 value;
        bytes data;
    }

    FlashLayer internal layer;
    uint256[] internal keys; // sorted by address
    address[] internal addrs; // = vm.addr(keys[i]), ascending

    function setUp() public virtual {
        (keys, addrs) = sortedKeys("signer", 4);
        layer = new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
    }

    // ------------------------------------------------------------------ keys & signatures

    /// `n` private keys derived from `prefix`, sorted by their address.
    function sortedKeys(string memory prefix, uint256 n) internal returns (uint256[] memory ks, address[] memory as_) {
        ks = new uint256[](n);
        as_ = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 k = uint256(keccak256(abi.encode(prefix, i))) % (SECP256K1_N - 1) + 1;
            address a = vm.addr(k);
            uint256 j = i;
            while (j > 0 && as_[j - 1] > a) {
                ks[j] = ks[j - 1];
                as_[j] = as_[j - 1];
                --j;
            }
            ks[j] = k;
            as_[j] = a;
            vm.label(a, string.concat(prefix, "-", vm.toString(i)));
        }
    }

    /// Distinct consensus keys for the members of `set` (what the cluster's ed25519 keys are to
    /// the contract: opaque, nonzero, unique).
    function ckeys(address[] memory set) internal pure returns (bytes32[] memory k) {
        k = new bytes32[](set.length);
        for (uint256 i = 0; i < set.length; ++i) {
            k[i] = keccak256(abi.encode("consensus key", set[i]));
        }
    }

    /// The escape settings of the test layers: a genesis state root, a day of grace, one watcher.
    function recourse() internal pure returns (FlashLayer.Recourse memory r) {
        r.genesisStateRoot = GENESIS_STATE;
        r.gracePeriod = GRACE;
        r.watchers = new address[](1);
        r.watchers[0] = WATCHER;
    }

    function sig(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// Signatures of `digest` by `ks[which[i]]`, in the given order.
    function sigsBy(uint256[] memory ks, uint256[] memory which, bytes32 digest)
        internal
        pure
        returns (bytes[] memory out)
    {
        out = new bytes[](which.length);
        for (uint256 i = 0; i < which.length; ++i) {
            out[i] = sig(ks[which[i]], digest);
        }
    }

    /// Signatures of `digest` by the first `count` keys of `ks` (ascending address order).
    function sigsFirst(uint256[] memory ks, uint256 count, bytes32 digest) internal pure returns (bytes[] memory out) {
        out = new bytes[](count);
        for (uint256 i = 0; i < count; ++i) {
            out[i] = sig(ks[i], digest);
        }
    }

    function idx(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory w) {
        w = new uint256[](3);
        (w[0], w[1], w[2]) = (a, b, c);
    }

    function split(bytes memory signature) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
    }

    /// The address a signature recovers to for `digest` (plain ecrecover).
    function recoverRaw(bytes32 digest, bytes memory signature) internal pure returns (address) {
        (bytes32 r, bytes32 s, uint8 v) = split(signature);
        return ecrecover(digest, v, r, s);
    }

    /// EIP-712 domain separator computed by hand.
    function domainOf(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(EIP712_DOMAIN_TYPEHASH, keccak256("FlashLayer"), keccak256("1"), chainId, verifyingContract)
        );
    }

    function typedDigest(bytes32 domain, bytes32 structHash) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    // ------------------------------------------------------------------ signer sets

    /// `set` with `a` inserted in ascending order.
    function plus(address[] memory set, address a) internal pure returns (address[] memory out) {
        out = new address[](set.length + 1);
        uint256 j = 0;
        bool placed = false;
        for (uint256 i = 0; i < set.length; ++i) {
            if (!placed && a < set[i]) {
                out[j++] = a;
                placed = true;
            }
            out[j++] = set[i];
        }
        if (!placed) out[j] = a;
    }

    /// `set` without `a` (which must be in it).
    function minus(address[] memory set, address a) internal pure returns (address[] memory out) {
        out = new address[](set.length - 1);
        uint256 j = 0;
        for (uint256 i = 0; i < set.length; ++i) {
            if (set[i] != a) out[j++] = set[i];
        }
        require(j == out.length, "not in set");
    }

    // ------------------------------------------------------------------ batches

    /// A well-formed batch (without messages, deposit nonce 0) for the given position.
    function makeBatch(uint64 index, bytes32 prev, uint64 first, uint64 last)
        internal
        pure
        returns (FlashLayer.Batch memory b)
    {
        b = FlashLayer.Batch({
            index: index,
            prevBatchHash: prev,
            firstBlock: first,
            lastBlock: last,
            lastBlockHash: keccak256(abi.encode("block", last)),
            stateRoot: keccak256(abi.encode("state", last)),
            txDataHash: keccak256(abi.encode("txs", first, last)),
            messagesRoot: MessageTree.EMPTY_ROOT,
            lastDepositNonce: 0,
            depositsHash: bytes32(0)
        });
    }

    /// The next valid batch of `blocks` blocks for `l`'s current state.
    function nextBatch(FlashLayer l, uint64 blocks) internal view returns (FlashLayer.Batch memory b) {
        uint64 i = l.lastBatchIndex();
        uint64 first = l.lastBlock() + 1;
        b = makeBatch(i + 1, l.lastBatchHash(), first, first + blocks - 1);
        b.lastDepositNonce = l.batch(i).lastDepositNonce;
        b.depositsHash = l.depositsHash(b.lastDepositNonce);
    }

    /// Makes `b` credit deposits up to `nonce` (the nonce and the matching running hash of `layer`).
    function credit(FlashLayer.Batch memory b, uint64 nonce) internal view {
        b.lastDepositNonce = nonce;
        b.depositsHash = layer.depositsHash(nonce);
    }

    function nextBatch(uint64 blocks) internal view returns (FlashLayer.Batch memory) {
        return nextBatch(layer, blocks);
    }

    /// Signs `b` with the first three signers and submits it.
    function submit(FlashLayer.Batch memory b) internal {
        layer.submitBatch(b, sigsFirst(keys, 3, layer.batchDigest(b)));
    }

    // ------------------------------------------------------------------ messages

    function msgHash(Message memory m) internal pure returns (bytes32) {
        return MessageTree.messageHash(m.nonce, m.sender, m.target, m.value, m.data);
    }

    function leavesOf(Message[] memory ms) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](ms.length);
        for (uint256 i = 0; i < ms.length; ++i) {
            leaves[i] = MessageTree.leaf(msgHash(ms[i]));
        }
    }

    /// Submits the next batch (3 blocks) committing to `ms`; returns its index.
    function submitWithMessages(Message[] memory ms) internal returns (uint64) {
        FlashLayer.Batch memory b = nextBatch(3);
        b.messagesRoot = MessageTree.root(leavesOf(ms));
        submit(b);
        return b.index;
    }

    function relay(uint64 batchIndex, Message memory m, bytes32[] memory proof) internal {
        layer.relayMessage(batchIndex, m.nonce, m.sender, m.target, m.value, m.data, proof);
    }
}
