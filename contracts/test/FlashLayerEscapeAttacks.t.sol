// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LayerTestBase} from "./utils/LayerTestBase.sol";
import {FlashLayer} from "../src/FlashLayer.sol";
import {RLP} from "@openzeppelin/contracts/utils/RLP.sol";

/// @notice Attacks on disputes and the escape, from a review: a forged genesis state root that
/// would take the depositors' ETH (refused since), and properties that were attacked and held.
///
/// The fixture proofs (test/fixtures/escape.json) cannot express the states these findings need,
/// so this file builds its own small Merkle-Patricia tries (a single leaf, or a branch over two
/// leaves whose hashed keys differ in their first nibble): exactly what `eth_getProof` returns for
/// such a state, and what OpenZeppelin's TrieProof walks.
contract FlashLayerEscapeAttacksTest is LayerTestBase {
    uint256 internal constant SUPPLY = 100 ether;
    uint64 internal constant ESCAPE_GRACE = 1 days;

    // ================================================================== a tiny MPT builder

    bytes32 internal constant EMPTY_TRIE = keccak256(hex"80");
    bytes32 internal constant EMPTY_CODE = keccak256("");

    function accountRlp(uint256 nonce, uint256 balance, bytes32 storageRoot, bytes32 codeHash)
        internal
        pure
        returns (bytes memory)
    {
        bytes[] memory f = new bytes[](4);
        f[0] = RLP.encode(nonce);
        f[1] = RLP.encode(balance);
        f[2] = RLP.encode(storageRoot);
        f[3] = RLP.encode(codeHash);
        return RLP.encode(f);
    }

    function node2(bytes memory hp, bytes memory value) internal pure returns (bytes memory) {
        bytes[] memory f = new bytes[](2);
        f[0] = RLP.encode(hp);
        f[1] = RLP.encode(value);
        return RLP.encode(f);
    }

    /// A leaf holding the whole 64-nibble key (the only node of a one-entry trie).
    function rootLeaf(bytes32 key, bytes memory value) internal pure returns (bytes memory) {
        return node2(abi.encodePacked(bytes1(0x20), key), value);
    }

    /// A leaf below a root branch: the key minus its first nibble (63 nibbles, odd).
    function childLeaf(bytes32 key, bytes memory value) internal pure returns (bytes memory) {
        bytes memory hp = new bytes(32);
        hp[0] = bytes1(0x30 | (uint8(key[0]) & 0x0f));
        for (uint256 i = 1; i < 32; ++i) {
            hp[i] = key[i];
        }
        return node2(hp, value);
    }

    /// A root branch over two leaves (their keys must differ in the first nibble).
    function branch2(bytes32 k1, bytes memory leaf1, bytes32 k2, bytes memory leaf2)
        internal
        pure
        returns (bytes memory)
    {
        uint8 n1 = uint8(k1[0]) >> 4;
        uint8 n2 = uint8(k2[0]) >> 4;
        require(n1 != n2, "keys share a first nibble");
        bytes[] memory f = new bytes[](17);
        for (uint256 i = 0; i < 17; ++i) {
            f[i] = hex"80";
        }
        f[n1] = RLP.encode(keccak256(leaf1));
        f[n2] = RLP.encode(keccak256(leaf2));
        return RLP.encode(f);
    }

    function one(bytes memory a) internal pure returns (bytes[] memory p) {
        p = new bytes[](1);
        p[0] = a;
    }

    function two(bytes memory a, bytes memory b) internal pure returns (bytes[] memory p) {
        p = new bytes[](2);
        (p[0], p[1]) = (a, b);
    }

    function hashed(address a) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(a));
    }

    // ================================================================== layer helpers

    function deployWith(bytes32 genesisStateRoot, address watcher) internal returns (FlashLayer l) {
        FlashLayer.Recourse memory r;
        r.genesisStateRoot = genesisStateRoot;
        r.gracePeriod = ESCAPE_GRACE;
        r.watchers = new address[](1);
        r.watchers[0] = watcher;
        vm.deal(address(this), SUPPLY);
        l = new FlashLayer{value: SUPPLY}(addrs, 3, GENESIS, WINDOW, 0, SUPPLY, ckeys(addrs), 0, r);
    }

    function submitRoot(bytes32 root) internal returns (uint64) {
        FlashLayer.Batch memory b = nextBatch(3);
        b.stateRoot = root;
        submit(b);
        return b.index;
    }

    /// Batch 1 claims `root`; batch 2 (a window later) something else, disputed at once: the
    /// escape opens against batch 1.
    function escapeAgainst(bytes32 root) internal {
        submitRoot(root);
        vm.warp(block.timestamp + WINDOW + 1);
        submitRoot(keccak256("whatever batch 2 claims"));
        vm.prank(WATCHER);
        layer.dispute(2);
        (bool open, uint64 index,) = layer.escapeStatus();
        require(open && index == 1, "escape not open against batch 1");
    }

    function setUp() public override {
        (keys, addrs) = sortedKeys("signer", 4);
        vm.warp(1_000_000);
    }

    // ================================================================== findings

    /// The owner steals deposits (found in review; the trust model says the owner takes no ETH).
    /// `Recourse.genesisStateRoot` is whatever the deployer passes: nothing on L1 can check it,
    /// and neither the node's start-up check (sequencer/src/settle.rs `check_contract`: genesis
    /// hash, supply, DA mode, signers, keys) nor `flashlayer verify` compares it with the layer
    /// description's genesis. An owner who deploys with a state root in which it holds
    /// `genesisSupply + everything later deposited`, and names a watcher it controls, disputes
    /// batch 1 within its window: the escape opens against that forged genesis state, the owner
    /// escapes with the deposits, and the depositors' refunds (all deposits are "after the escape
    /// batch") bounce with InsufficientBalance. Same without a watcher if no batch lands within
    /// the grace period after deployment. (The watcher could equally be honest-but-fooled: any
    /// dispute of batch 1 hands the contract to the forged genesis.)
    /// Fixed: escapes against the genesis pay at most `genesisSupply` (`OverGenesisSupply`), and
    /// nodes and `verify` check `batch(0).stateRoot` against the layer description's genesis.
    function test_ForgedGenesisStateRoot_CannotTakeDeposits() public {
        address owner = vm.addr(0xA11CE);
        address ownersWatcher = address(0xBAD);
        uint256 loot = SUPPLY + 50 ether;
        bytes memory leaf = rootLeaf(hashed(owner), accountRlp(0, loot, EMPTY_TRIE, EMPTY_CODE));
        bytes32 forgedGenesis = keccak256(leaf);

        layer = deployWith(forgedGenesis, ownersWatcher);
        // A user deposits 50 ETH; the honest cluster credits it in batch 1.
        address user = address(0xD0D0);
        vm.deal(user, 50 ether);
        vm.prank(user);
        layer.deposit{value: 50 ether}(user);
        FlashLayer.Batch memory b = nextBatch(3);
        credit(b, 1);
        submit(b);
        // The owner's watcher disputes batch 1 in its window: escape against the "genesis".
        vm.prank(ownersWatcher);
        layer.dispute(1);
        vm.warp(block.timestamp + WINDOW);
        (bool open, uint64 index,) = layer.escapeStatus();
        vm.assertTrue(open && index == 0, "escape open against the genesis");

        // The forged genesis pays out no more than the genesis supply the owner locked...
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.OverGenesisSupply.selector, loot, SUPPLY));
        layer.escape(owner, one(leaf));
        vm.assertEq(owner.balance, 0, "the owner took nothing");

        // ...and a deposit after the escape batch is refunded to its sender.
        layer.refundDeposit(1, user, user, 50 ether);
        vm.assertEq(user.balance, 50 ether, "depositor refunded");
    }

    // ================================================================== attacked and held

    /// Once the grace escape is open nothing can move the escape batch: no batch, no final batch,
    /// and no dispute (every batch's window is over by then).
    function test_Checked_EscapeBatchFixedOnceGraceEscapeOpens() public {
        layer = deployWith(GENESIS_STATE, WATCHER);
        address eoa = vm.addr(0xE0A);
        bytes memory leaf = rootLeaf(hashed(eoa), accountRlp(0, 1 ether, EMPTY_TRIE, EMPTY_CODE));
        submitRoot(keccak256(leaf));
        vm.warp(block.timestamp + ESCAPE_GRACE);
        (bool open, uint64 index,) = layer.escapeStatus();
        vm.assertTrue(open && index == 1, "open against batch 1");
        layer.escape(eoa, one(leaf));
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert();
        layer.submitBatch(b, sigs);
        bytes32 br = keccak256("b");
        sigs = sigsFirst(keys, 3, layer.finalBatchDigest(b, br));
        vm.expectRevert();
        layer.settle(b, br, sigs);
        vm.startPrank(WATCHER);
        vm.expectRevert();
        layer.dispute(1);
        vm.stopPrank();
        (, uint64 after_,) = layer.escapeStatus();
        vm.assertEq(uint256(after_), 1, "still batch 1");
    }

    /// The passer's own balance (ETH of withdrawals, paid by relays) cannot escape: it has code
    /// and nobody can make it call setClaimRecipient for itself.
    function test_Checked_PasserCannotEscape() public {
        layer = deployWith(GENESIS_STATE, WATCHER);
        address passer = layer.L2_MESSAGE_PASSER();
        bytes memory leaf = rootLeaf(hashed(passer), accountRlp(1, 3 ether, EMPTY_TRIE, keccak256("code")));
        escapeAgainst(keccak256(leaf));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AccountHasCode.selector, passer));
        layer.escape(passer, one(leaf));
    }

    receive() external payable {}
}
