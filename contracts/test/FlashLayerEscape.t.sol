// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LayerTestBase, MessageTarget} from "./utils/LayerTestBase.sol";
import {FlashLayer} from "../src/FlashLayer.sol";
import {MessageTree} from "../src/MessageTree.sol";
import {TrieProof} from "@openzeppelin/contracts/utils/cryptography/TrieProof.sol";

/// @notice Disputes in the challenge window and the escape that needs no operator. The account
/// proofs come from test/fixtures/escape.json: alloy-trie proofs (what a node's `eth_getProof`
/// builds on) of a good state and of a bad one where alice holds 1,000 ETH more, over 300 other
/// accounts, a zero-balance account, two contracts (one named an L1 recipient) and the
/// L2MessagePasser.
contract FlashLayerEscapeTest is LayerTestBase {
    uint64 internal constant ESCAPE_GRACE = 6 hours;
    uint256 internal constant SUPPLY = 100 ether;

    string internal fixture;
    bytes32 internal goodRoot;
    bytes32 internal badRoot;
    address internal alice;
    address internal vault;
    address internal vaultRecipient;

    function setUp() public override {
        (keys, addrs) = sortedKeys("signer", 4);
        vm.warp(1_000_000);
        layer = deploy(0);
        fixture = vm.readFile(string.concat(vm.projectRoot(), "/test/fixtures/escape.json"));
        goodRoot = vm.parseJsonBytes32(fixture, ".good.stateRoot");
        badRoot = vm.parseJsonBytes32(fixture, ".bad.stateRoot");
        alice = vm.parseJsonAddress(fixture, ".good.alice.address");
        vault = vm.parseJsonAddress(fixture, ".good.vault.address");
        vaultRecipient = vm.parseJsonAddress(fixture, ".good.vaultRecipient.address");
    }

    function deploy(uint64 deadline) internal returns (FlashLayer l) {
        FlashLayer.Recourse memory r = recourse();
        r.gracePeriod = ESCAPE_GRACE;
        vm.deal(address(this), SUPPLY);
        l = new FlashLayer{value: SUPPLY}(addrs, 3, GENESIS, WINDOW, deadline, SUPPLY, ckeys(addrs), 0, r);
    }

    // ------------------------------------------------------------------ helpers

    function proofOf(string memory state, string memory name) internal view returns (bytes[] memory) {
        return vm.parseJsonBytesArray(fixture, string.concat(".", state, ".", name, ".proof"));
    }

    function addressOf(string memory name) internal view returns (address) {
        return vm.parseJsonAddress(fixture, string.concat(".good.", name, ".address"));
    }

    /// Submits the next batch with state root `root`; returns its index.
    function submitRoot(bytes32 root) internal returns (uint64) {
        FlashLayer.Batch memory b = nextBatch(3);
        b.stateRoot = root;
        submit(b);
        return b.index;
    }

    /// Batch 1 claims the good state, batch 2 (a window later) the bad one, and the watcher
    /// disputes batch 2: the escape opens against batch 1 at once.
    function disputeBadBatch() internal {
        submitRoot(goodRoot);
        vm.warp(block.timestamp + WINDOW + 1);
        submitRoot(badRoot);
        vm.prank(WATCHER);
        layer.dispute(2);
    }

    // ------------------------------------------------------------------ disputes

    function test_Dispute_WatcherWithinWindow() public {
        submitRoot(goodRoot);
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.Disputed(1, WATCHER);
        vm.prank(WATCHER);
        layer.dispute(1);
        vm.assertEq(uint256(layer.disputedFrom()), 1, "disputedFrom");
        vm.assertEq(layer.disputedBy(), WATCHER, "disputedBy");
        vm.assertTrue(layer.isWatcher(WATCHER), "isWatcher");
        vm.assertEq(layer.watchers().length, 1, "watchers");
    }

    function test_RevertWhen_DisputeByNonWatcher() public {
        submitRoot(goodRoot);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotWatcher.selector, address(this)));
        layer.dispute(1);
        // not even a signer, nor the owner
        vm.prank(addrs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotWatcher.selector, addrs[0]));
        layer.dispute(1);
    }

    function test_RevertWhen_DisputeAfterWindowOrUnknown() public {
        submitRoot(goodRoot);
        uint256 closes = block.timestamp + WINDOW;
        vm.warp(closes);
        vm.prank(WATCHER);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.DisputeWindowClosed.selector, uint64(1), closes));
        layer.dispute(1);
        vm.startPrank(WATCHER);
        vm.expectRevert();
        layer.dispute(0); // the genesis
        vm.expectRevert();
        layer.dispute(2); // not accepted
        vm.stopPrank();
    }

    function test_Dispute_EarlierBatchMovesTheDisputeDown() public {
        submitRoot(goodRoot);
        submitRoot(badRoot);
        vm.startPrank(WATCHER);
        layer.dispute(2);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyDisputed.selector, uint64(2)));
        layer.dispute(2);
        layer.dispute(1); // still in its window
        vm.stopPrank();
        vm.assertEq(uint256(layer.disputedFrom()), 1, "moved down");
        (, uint64 index,) = layer.escapeStatus();
        vm.assertEq(uint256(index), 0, "escape against the genesis");
    }

    function test_DisputedLayer_TakesNothingMore() public {
        disputeBadBatch();
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.LayerDisputed.selector, uint64(2)));
        layer.submitBatch(b, sigs);
        bytes32 balances = keccak256("balances");
        sigs = sigsFirst(keys, 3, layer.finalBatchDigest(b, balances));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.LayerDisputed.selector, uint64(2)));
        layer.settle(b, balances, sigs);
        vm.deal(address(this), 1 ether);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.LayerDisputed.selector, uint64(2)));
        layer.deposit{value: 1 ether}(alice);
    }

    function test_DisputedBatch_MessagesNeverRelay_EarlierOnesDo() public {
        MessageTarget target = new MessageTarget();
        Message[] memory ms = new Message[](1);
        ms[0] = Message(1, alice, address(target), 1 ether, abi.encodeCall(MessageTarget.ping, (1)));
        Message[] memory bad = new Message[](1);
        bad[0] = Message(2, alice, address(target), 50 ether, abi.encodeCall(MessageTarget.ping, (2)));
        submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW + 1);
        submitWithMessages(bad);
        vm.prank(WATCHER);
        layer.dispute(2);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.BatchIsDisputed.selector, uint64(2)));
        relay(2, bad[0], new bytes32[](0));
        relay(1, ms[0], new bytes32[](0)); // undisputed, past its window: pays
        vm.assertEq(target.received(), 1 ether, "relayed");
    }

    function test_SettledButDisputed_ClaimsRefused_EscapeInstead() public {
        submitRoot(goodRoot);
        vm.warp(block.timestamp + WINDOW + 1);
        FlashLayer.Batch memory b = nextBatch(3);
        b.stateRoot = badRoot;
        bytes32 balances = keccak256(abi.encode("inflated balances"));
        layer.settle(b, balances, sigsFirst(keys, 3, layer.finalBatchDigest(b, balances)));
        vm.prank(WATCHER);
        layer.dispute(2);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.LayerDisputed.selector, uint64(2)));
        layer.claim(alice, 1002 ether, new bytes32[](0));
        layer.escape(alice, proofOf("good", "alice"));
        vm.assertEq(alice.balance, 2 ether, "paid the good balance");
    }

    // ------------------------------------------------------------------ escape proofs

    function test_Escape_PresentAccount_PaysItsBalanceInTheLastGoodBatch() public {
        disputeBadBatch();
        (bool open, uint64 index,) = layer.escapeStatus();
        vm.assertTrue(open, "open");
        vm.assertEq(uint256(index), 1, "against batch 1");
        bytes[] memory proof = proofOf("good", "alice");
        vm.expectEmit(true, true, true, true, address(layer));
        emit FlashLayer.Escaped(alice, alice, 1, 2 ether);
        uint256 gas = gasleft();
        layer.escape(alice, proof);
        logUint("escape gas (execution, 4-node proof)", gas - gasleft());
        vm.assertEq(alice.balance, 2 ether, "balance paid");
        vm.assertTrue(layer.claimed(alice), "on the shared ledger");
        vm.assertEq(address(layer).balance, SUPPLY - 2 ether, "held");
    }

    function test_RevertWhen_SecondEscape() public {
        disputeBadBatch();
        bytes[] memory proof = proofOf("good", "alice");
        layer.escape(alice, proof);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyClaimed.selector, alice));
        layer.escape(alice, proof);
    }

    function test_RevertWhen_ProofAgainstTheDisputedBatch() public {
        disputeBadBatch();
        // valid against batch 2's (disputed) root, where alice holds 1,002 ETH
        vm.expectRevert(
            abi.encodeWithSelector(FlashLayer.InvalidAccountProof.selector, alice, TrieProof.ProofError.INVALID_ROOT)
        );
        layer.escape(alice, proofOf("bad", "alice"));
    }

    function test_RevertWhen_ForgedProof() public {
        disputeBadBatch();
        bytes[] memory proof = proofOf("good", "alice");
        // a leaf that says more: its hash no longer matches its parent's reference
        bytes memory leaf = proof[proof.length - 1];
        leaf[leaf.length - 40] = bytes1(uint8(leaf[leaf.length - 40]) ^ 0x01);
        vm.expectRevert(
            abi.encodeWithSelector(
                FlashLayer.InvalidAccountProof.selector, alice, TrieProof.ProofError.INVALID_LARGE_NODE
            )
        );
        layer.escape(alice, proof);
        // someone else's proof for alice
        address zero = addressOf("zero");
        vm.expectRevert();
        layer.escape(zero, proofOf("good", "alice"));
        // no proof at all
        vm.expectRevert(
            abi.encodeWithSelector(FlashLayer.InvalidAccountProof.selector, alice, TrieProof.ProofError.INVALID_PROOF)
        );
        layer.escape(alice, new bytes[](0));
        vm.assertFalse(layer.claimed(alice), "nothing paid");
    }

    function test_RevertWhen_ZeroBalanceAccount() public {
        disputeBadBatch();
        address zero = addressOf("zero");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NothingToEscape.selector, zero));
        layer.escape(zero, proofOf("good", "zero"));
    }

    function test_RevertWhen_AbsentAccount() public {
        disputeBadBatch();
        address absent = addressOf("absent");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NothingToEscape.selector, absent));
        layer.escape(absent, proofOf("good", "absent"));
        vm.assertFalse(layer.claimed(absent), "nothing paid");
    }

    function test_Contract_EscapesOnlyToItsNamedRecipient() public {
        disputeBadBatch();
        bytes[] memory vaultProof = proofOf("good", "vault");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AccountHasCode.selector, vault));
        layer.escape(vault, vaultProof);
        bytes[] memory passer = proofOf("good", "passer");
        bytes[] memory slot = vm.parseJsonBytesArray(fixture, ".good.vaultRecipient.proof");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongRecipient.selector, vault, vaultRecipient));
        layer.escapeTo(vault, address(this), vaultProof, passer, slot);
        // the vault's slot proof does not show a recipient for the orphan contract
        address orphan = addressOf("orphan");
        vm.expectRevert();
        layer.escapeTo(orphan, vaultRecipient, proofOf("good", "orphan"), passer, slot);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AccountHasCode.selector, orphan));
        layer.escape(orphan, proofOf("good", "orphan"));

        uint256 gas = gasleft();
        layer.escapeTo(vault, vaultRecipient, vaultProof, passer, slot);
        logUint("escapeTo gas (execution)", gas - gasleft());
        vm.assertEq(vaultRecipient.balance, 7 ether, "paid to the named recipient");
        vm.assertTrue(layer.claimed(vault), "ledger");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyClaimed.selector, vault));
        layer.escapeTo(vault, vaultRecipient, vaultProof, passer, slot);
    }

    // ------------------------------------------------------------------ when the escape opens

    function test_RevertWhen_EscapeBeforeTheGracePeriod() public {
        uint256 accepted = block.timestamp;
        submitRoot(goodRoot);
        uint256 opensAt = accepted + ESCAPE_GRACE;
        vm.assertEq(layer.escapeOpensAt(), opensAt, "grace after the last batch");
        bytes[] memory proof = proofOf("good", "alice");
        vm.warp(opensAt - 1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.EscapeNotOpen.selector, opensAt));
        layer.escape(alice, proof);
        // the cluster could still land batches here; from the grace deadline on it cannot
        vm.warp(opensAt);
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.EscapeTimeReached.selector, opensAt));
        layer.submitBatch(b, sigs);
        layer.escape(alice, proof);
        vm.assertEq(alice.balance, 2 ether, "escaped against the last batch");
    }

    function test_EscapeAfterDeadlinePlusGrace_WithoutFinalBatch() public {
        uint64 deadline = uint64(block.timestamp + 2 hours);
        layer = deploy(deadline);
        submitRoot(goodRoot);
        vm.warp(deadline);
        submitRoot(goodRoot); // the cluster still works after the end...
        vm.warp(deadline + ESCAPE_GRACE - 1);
        (bool open,, uint256 opensAt) = layer.escapeStatus();
        vm.assertFalse(open, "not before deadline + grace");
        vm.assertEq(opensAt, deadline + ESCAPE_GRACE, "deadline + grace (not the last batch + grace)");
        vm.warp(deadline + ESCAPE_GRACE);
        // ...but never signed the final batch: everyone leaves with batch 2's state
        (open,,) = layer.escapeStatus();
        vm.assertTrue(open, "open");
        layer.escape(alice, proofOf("good", "alice"));
    }

    function test_EscapeOpensAtCloseTimePlusGrace() public {
        layer.close();
        submitRoot(goodRoot);
        uint256 accepted = block.timestamp;
        (,, uint256 opensAt) = layer.escapeStatus();
        vm.assertEq(opensAt, accepted + ESCAPE_GRACE, "close + grace");
        vm.assertEq(layer.closedTime(), accepted, "closedTime");
    }

    function test_RevertWhen_EscapeBeforeTheEscapeBatchWindowPassed() public {
        submitRoot(goodRoot);
        uint256 accepted = block.timestamp;
        submitRoot(badRoot);
        vm.prank(WATCHER);
        layer.dispute(2);
        // batch 1 may still be disputed: the escape waits for its window
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.EscapeNotOpen.selector, accepted + WINDOW));
        layer.escape(alice, proofOf("good", "alice"));
        vm.warp(accepted + WINDOW);
        layer.escape(alice, proofOf("good", "alice"));
    }

    function test_RevertWhen_EscapeFromASettledLayer() public {
        submitRoot(goodRoot);
        FlashLayer.Batch memory b = nextBatch(3);
        b.stateRoot = goodRoot;
        bytes32 balances = keccak256("balances");
        layer.settle(b, balances, sigsFirst(keys, 3, layer.finalBatchDigest(b, balances)));
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.EscapeNotOpen.selector, type(uint256).max));
        layer.escape(alice, proofOf("good", "alice"));
    }

    // ------------------------------------------------------------------ refunds share the ledger

    function test_Escape_RefundsDepositsAfterTheEscapeBatchOnly() public {
        vm.deal(address(this), 3 ether);
        layer.deposit{value: 1 ether}(alice); // nonce 1: credited by batch 1
        FlashLayer.Batch memory b = nextBatch(3);
        b.stateRoot = goodRoot;
        credit(b, 1);
        submit(b);
        layer.deposit{value: 2 ether}(alice); // nonce 2: only the disputed batch credits it
        vm.warp(block.timestamp + WINDOW + 1);
        b = nextBatch(3);
        b.stateRoot = badRoot;
        credit(b, 2);
        submit(b);
        vm.prank(WATCHER);
        layer.dispute(2);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, uint64(1)));
        layer.refundDeposit(1, address(this), alice, 1 ether);
        uint256 before = address(this).balance;
        layer.refundDeposit(2, address(this), alice, 2 ether);
        vm.assertEq(address(this).balance, before + 2 ether, "refunded");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, uint64(2)));
        layer.refundDeposit(2, address(this), alice, 2 ether);
    }

    function test_RevertWhen_DeployWithoutGraceOrGenesisState() public {
        FlashLayer.Recourse memory r = recourse();
        r.gracePeriod = 0;
        vm.expectRevert(FlashLayer.ZeroGracePeriod.selector);
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, r);
        r = recourse();
        r.genesisStateRoot = bytes32(0);
        vm.expectRevert(FlashLayer.ZeroStateRoot.selector);
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, r);
        r = recourse();
        r.watchers = new address[](2);
        r.watchers[0] = WATCHER;
        r.watchers[1] = WATCHER;
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidWatcher.selector, WATCHER));
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, r);
    }

    /// forge deploys code of any size; an L1 refuses more than EIP-170's 24,576 bytes (the escape
    /// proof reader lives in its own contract for this).
    function test_LayerFitsTheCodeSizeLimit() public view {
        vm.assertLt(address(layer).code.length, 24_577, "FlashLayer runtime code over EIP-170's limit");
        vm.assertLt(address(layer.stateProofs()).code.length, 24_577, "StateProofs over the limit");
    }

    receive() external payable {}
}
