// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LayerTestBase} from "./utils/LayerTestBase.sol";
import {FlashLayer} from "../src/FlashLayer.sol";
import {MessageTree} from "../src/MessageTree.sol";

/// @notice Receives ETH only when told to; can make deposits (so it can be a deposit's `from`).
contract Payee {
    bool public accepting;

    function setAccepting(bool a) external {
        accepting = a;
    }

    function depositTo(FlashLayer l, address to) external payable {
        l.deposit{value: msg.value}(to);
    }

    receive() external payable {
        require(accepting, "not accepting");
    }
}

/// @notice Fixtures for the end-of-life tests: layers with a deadline / genesis supply, final batches
/// and final-balance trees.
abstract contract LifecycleTestBase is LayerTestBase {
    struct Balance {
        address account;
        uint256 amount;
    }

    /// Deploys a 3-of-4 layer (the fixture signers) from this contract, funding the genesis supply.
    function deployLayer(uint64 deadline, uint256 supply) internal returns (FlashLayer) {
        vm.deal(address(this), address(this).balance + supply);
        return new FlashLayer{value: supply}(addrs, 3, GENESIS, WINDOW, deadline, supply, ckeys(addrs), 0, recourse());
    }

    /// The leaf of a final balance, computed by hand (FlashLayer.balanceLeaf must agree).
    function leafOf(Balance memory b) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(keccak256(abi.encode(keccak256(abi.encodePacked(b.account)), b.amount))));
    }

    /// Sorts `bs` in place by hashed address (the order the cluster uses) and returns their leaves.
    function balanceLeaves(Balance[] memory bs) internal pure returns (bytes32[] memory leaves) {
        for (uint256 i = 1; i < bs.length; ++i) {
            Balance memory x = bs[i];
            bytes32 k = keccak256(abi.encodePacked(x.account));
            uint256 j = i;
            while (j > 0 && keccak256(abi.encodePacked(bs[j - 1].account)) > k) {
                bs[j] = bs[j - 1];
                --j;
            }
            bs[j] = x;
        }
        leaves = new bytes32[](bs.length);
        for (uint256 i = 0; i < bs.length; ++i) {
            leaves[i] = leafOf(bs[i]);
        }
    }

    /// Signatures of the first three signers over `l`'s final batch digest.
    function finalSigs(FlashLayer l, FlashLayer.Batch memory b, bytes32 root) internal view returns (bytes[] memory) {
        return sigsFirst(keys, 3, l.finalBatchDigest(b, root));
    }

    /// Settles `l` with final batch `b` and balances root `root`.
    function settleOn(FlashLayer l, FlashLayer.Batch memory b, bytes32 root) internal {
        l.settle(b, root, finalSigs(l, b, root));
    }

    /// Settles `layer` with its next batch (3 blocks, crediting `lastDepositNonce`) and `root`.
    function settleNext(uint64 lastDepositNonce, bytes32 root) internal returns (FlashLayer.Batch memory b) {
        b = nextBatch(3);
        credit(b, lastDepositNonce);
        settleOn(layer, b, root);
    }

    function fund(address a, uint256 amount) internal returns (address) {
        vm.deal(a, a.balance + amount);
        return a;
    }
}

// ====================================================================== constructor & EIP-712

contract FlashLayerLifecycleDeployTest is LifecycleTestBase {
    function test_DefaultLayerHasNoDeadlineNoSupply() public view {
        vm.assertEq(layer.owner(), address(this), "owner = deployer");
        vm.assertEq(uint256(layer.deadline()), 0, "deadline");
        vm.assertEq(layer.genesisSupply(), 0, "genesisSupply");
        vm.assertEq(uint256(layer.closedAt()), 0, "closedAt");
        vm.assertFalse(layer.settled(), "settled");
        vm.assertEq(layer.balancesRoot(), bytes32(0), "balancesRoot");
        vm.assertFalse(layer.isClosing(), "isClosing");
        vm.assertEq(address(layer).balance, 0, "balance");
    }

    function test_ConstructorWithDeadlineAndGenesisSupply() public {
        uint64 deadline = uint64(block.timestamp + 1 days);
        FlashLayer l = deployLayer(deadline, 7 ether);
        vm.assertEq(uint256(l.deadline()), deadline, "deadline");
        vm.assertEq(l.genesisSupply(), 7 ether, "genesisSupply");
        vm.assertEq(address(l).balance, 7 ether, "genesis supply locked");
        vm.assertEq(uint256(l.depositCount()), 0, "the genesis supply is not a deposit");
        vm.assertFalse(l.isClosing(), "not closing before the deadline");
    }

    function test_OwnerIsTheDeployer() public {
        address creator = fund(makeAddr("creator"), 1 ether);
        vm.prank(creator);
        FlashLayer l =
            new FlashLayer{value: 1 ether}(addrs, 3, GENESIS, WINDOW, 0, 1 ether, ckeys(addrs), 0, recourse());
        vm.assertEq(l.owner(), creator, "owner");
    }

    function test_RevertWhen_DeadlineInPast() public {
        vm.warp(1_000_000);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.DeadlineInPast.selector, 999_999, 1_000_000));
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 999_999, 0, ckeys(addrs), 0, recourse());
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.DeadlineInPast.selector, 1_000_000, 1_000_000));
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 1_000_000, 0, ckeys(addrs), 0, recourse());
        FlashLayer l = new FlashLayer(addrs, 3, GENESIS, WINDOW, 1_000_001, 0, ckeys(addrs), 0, recourse());
        vm.assertEq(uint256(l.deadline()), 1_000_001, "one second ahead is fine");
    }

    function test_RevertWhen_GenesisSupplyMismatch() public {
        vm.deal(address(this), 10 ether);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.GenesisSupplyMismatch.selector, 1 ether, 2 ether));
        new FlashLayer{value: 1 ether}(addrs, 3, GENESIS, WINDOW, 0, 2 ether, ckeys(addrs), 0, recourse());
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.GenesisSupplyMismatch.selector, 0, 1 ether));
        new FlashLayer(addrs, 3, GENESIS, WINDOW, 0, 1 ether, ckeys(addrs), 0, recourse());
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.GenesisSupplyMismatch.selector, 1 wei, 0));
        new FlashLayer{value: 1 wei}(addrs, 3, GENESIS, WINDOW, 0, 0, ckeys(addrs), 0, recourse());
    }

    function test_FinalBatchTypehash() public view {
        vm.assertEq(
            layer.FINAL_BATCH_TYPEHASH(),
            keccak256(
                "FinalBatch(Batch batch,bytes32 balancesRoot)Batch(uint64 index,bytes32 prevBatchHash,uint64 firstBlock,uint64 lastBlock,bytes32 lastBlockHash,bytes32 stateRoot,bytes32 txDataHash,bytes32 messagesRoot,uint64 lastDepositNonce,bytes32 depositsHash)"
            ),
            "final batch typehash"
        );
    }

    function test_FinalBatchDigestByHand() public view {
        FlashLayer.Batch memory b = makeBatch(7, keccak256("prev"), 100, 120);
        credit(b, 9);
        bytes32 root = keccak256("balances");
        bytes32 structHash = keccak256(abi.encode(layer.FINAL_BATCH_TYPEHASH(), layer.batchHash(b), root));
        vm.assertEq(layer.finalBatchDigest(b, root), typedDigest(layer.domainSeparator(), structHash), "digest");
        vm.assertTrue(layer.finalBatchDigest(b, root) != layer.batchDigest(b), "differs from the batch digest");
        vm.assertTrue(layer.finalBatchDigest(b, root) != layer.finalBatchDigest(b, bytes32(0)), "covers the root");
    }

    /// Cross-check against forge's own (alloy) EIP-712 implementation, with the nested Batch type.
    function test_FinalBatchDigestMatchesEip712Json() public view {
        FlashLayer.Batch memory b = makeBatch(7, keccak256("prev"), 100, 120);
        credit(b, 9);
        bytes32 root = keccak256("balances");
        string memory batchJson = string.concat(
            '{"index":7,"prevBatchHash":"',
            vm.toString(b.prevBatchHash),
            '","firstBlock":100,"lastBlock":120,"lastBlockHash":"',
            vm.toString(b.lastBlockHash),
            '","stateRoot":"',
            vm.toString(b.stateRoot),
            '","txDataHash":"',
            vm.toString(b.txDataHash),
            '","messagesRoot":"',
            vm.toString(b.messagesRoot),
            '","lastDepositNonce":9,"depositsHash":"',
            vm.toString(b.depositsHash),
            '"}'
        );
        string memory json = string.concat(
            '{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},',
            '{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],',
            '"FinalBatch":[{"name":"batch","type":"Batch"},{"name":"balancesRoot","type":"bytes32"}],',
            '"Batch":[{"name":"index","type":"uint64"},{"name":"prevBatchHash","type":"bytes32"},',
            '{"name":"firstBlock","type":"uint64"},{"name":"lastBlock","type":"uint64"},',
            '{"name":"lastBlockHash","type":"bytes32"},{"name":"stateRoot","type":"bytes32"},',
            '{"name":"txDataHash","type":"bytes32"},{"name":"messagesRoot","type":"bytes32"},',
            '{"name":"lastDepositNonce","type":"uint64"},{"name":"depositsHash","type":"bytes32"}]},',
            '"primaryType":"FinalBatch",',
            '"domain":{"name":"FlashLayer","version":"1","chainId":',
            vm.toString(block.chainid),
            ',"verifyingContract":"',
            vm.toString(address(layer)),
            '"},"message":{"batch":',
            batchJson,
            ',"balancesRoot":"',
            vm.toString(root),
            '"}}'
        );
        vm.assertEq(vm.eip712HashTypedData(json), layer.finalBatchDigest(b, root), "digest vs eip712HashTypedData");
    }

    function test_BalanceLeafByHand() public view {
        Balance memory b = Balance({account: address(0xA11CE), amount: 1.5 ether});
        vm.assertEq(layer.balanceLeaf(b.account, b.amount), leafOf(b), "balanceLeaf");
        vm.assertEq(
            layer.balanceLeaf(b.account, b.amount),
            MessageTree.leaf(keccak256(abi.encode(keccak256(abi.encodePacked(b.account)), b.amount))),
            "MessageTree.leaf of the (hashed address, amount) pair"
        );
    }
}

// ====================================================================== close & deadline

contract FlashLayerCloseTest is LifecycleTestBase {
    address internal alice;

    function setUp() public override {
        super.setUp();
        alice = fund(makeAddr("alice"), 10 ether);
    }

    function test_Close() public {
        vm.prank(alice);
        layer.deposit{value: 1 ether}(alice);
        vm.roll(42);
        vm.expectEmit(false, false, false, true, address(layer));
        emit FlashLayer.Closed(42);
        layer.close();
        vm.assertEq(uint256(layer.closedAt()), 42, "closedAt = L1 block");
        vm.assertTrue(layer.isClosing(), "isClosing");
        vm.assertFalse(layer.settled(), "closing is not settled");

        vm.expectRevert(FlashLayer.LayerClosing.selector);
        vm.prank(alice);
        layer.deposit{value: 1 ether}(alice);
        vm.assertEq(uint256(layer.depositCount()), 1, "no deposit after close");
        vm.assertEq(address(layer).balance, 1 ether, "balance");
    }

    function test_RevertWhen_CloseByNonOwner() public {
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOwner.selector, alice));
        vm.prank(alice);
        layer.close();
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotOwner.selector, addrs[0]));
        vm.prank(addrs[0]); // signers cannot close either
        layer.close();
        vm.assertFalse(layer.isClosing(), "still open");
    }

    function test_RevertWhen_ClosedTwice() public {
        layer.close();
        vm.roll(block.number + 1);
        vm.expectRevert(FlashLayer.AlreadyClosed.selector);
        layer.close();
    }

    function test_RevertWhen_CloseAfterSettle() public {
        settleNext(0, keccak256("balances"));
        vm.expectRevert(FlashLayer.LayerSettled.selector);
        layer.close();
    }

    /// Changes announced before the close (a join) and while closing (a leave) are still applied,
    /// one at a time once due, and the resulting set settles the layer.
    function test_BatchesAndSignerUpdatesContinueAfterClose() public {
        (uint256[] memory newKey, address[] memory newAddr) = sortedKeys("next", 1);
        vm.prank(newAddr[0]);
        layer.requestJoin(keccak256("next consensus key"), new bytes(64));
        layer.approveJoin(newAddr[0]); // change 1, before the close
        vm.prank(alice);
        layer.deposit{value: 1 ether}(alice);
        layer.close();
        // the cluster executes what it committed: the deposit made before the close is credited
        FlashLayer.Batch memory b = nextBatch(5);
        credit(b, 1);
        submit(b);
        vm.assertEq(uint256(layer.lastBatchIndex()), 1, "batch accepted after close");

        // change 1 applied while closing: the old set adds the newcomer
        vm.warp(block.timestamp + layer.membershipDelay());
        (uint256[] memory ks5, address[] memory set5) = _plus(keys, addrs, newKey[0], newAddr[0]);
        layer.updateSigners(set5, 4, 1, sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, 1, 1, set5, 4)));
        // change 2 announced while closing: the lowest original member leaves
        layer.requestLeave(addrs[0]);
        vm.warp(block.timestamp + layer.membershipDelay());
        (uint256[] memory ks4, address[] memory set4) = _minus(ks5, set5, addrs[0]);
        layer.updateSigners(set4, 3, 1, sigsFirst(ks5, 4, layer.signerSetUpdateDigest(2, 1, 2, set4, 3)));
        vm.assertEq(layer.signers(), set4, "two changes applied after close");
        vm.assertTrue(layer.isSigner(newAddr[0]), "newcomer in");
        vm.assertFalse(layer.isSigner(addrs[0]), "leaver out");

        keys = ks4;
        settleNext(1, keccak256("balances"));
        vm.assertTrue(layer.settled(), "settled by the new set");
    }

    /// `ks`/`as_` (sorted by address) with (`k`, `a`) inserted in order.
    function _plus(uint256[] memory ks, address[] memory as_, uint256 k, address a)
        internal
        pure
        returns (uint256[] memory ko, address[] memory ao)
    {
        ko = new uint256[](ks.length + 1);
        ao = new address[](as_.length + 1);
        uint256 j = 0;
        bool placed = false;
        for (uint256 i = 0; i < as_.length; ++i) {
            if (!placed && a < as_[i]) {
                (ko[j], ao[j]) = (k, a);
                ++j;
                placed = true;
            }
            (ko[j], ao[j]) = (ks[i], as_[i]);
            ++j;
        }
        if (!placed) (ko[j], ao[j]) = (k, a);
    }

    /// `ks`/`as_` without address `a`.
    function _minus(uint256[] memory ks, address[] memory as_, address a)
        internal
        pure
        returns (uint256[] memory ko, address[] memory ao)
    {
        ko = new uint256[](ks.length - 1);
        ao = new address[](as_.length - 1);
        uint256 j = 0;
        for (uint256 i = 0; i < as_.length; ++i) {
            if (as_[i] == a) continue;
            (ko[j], ao[j]) = (ks[i], as_[i]);
            ++j;
        }
    }

    function test_DeadlineStopsDeposits() public {
        uint64 deadline = uint64(block.timestamp + 1 days);
        FlashLayer l = deployLayer(deadline, 0);
        vm.warp(deadline - 1);
        vm.assertFalse(l.isClosing(), "open before the deadline");
        vm.prank(alice);
        l.deposit{value: 1 ether}(alice);

        vm.warp(deadline);
        vm.assertTrue(l.isClosing(), "closing at the deadline");
        vm.assertEq(uint256(l.closedAt()), 0, "not closed by the owner");
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        vm.prank(alice);
        l.deposit{value: 1 ether}(alice);

        vm.warp(deadline + 365 days);
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        vm.prank(alice);
        l.deposit{value: 1 ether}(alice);
        vm.assertEq(uint256(l.depositCount()), 1, "depositCount");

        // the owner may still close explicitly (e.g. to record the L1 block)
        l.close();
        vm.assertEq(uint256(l.closedAt()), block.number, "closedAt");
    }

    function test_NoDeadlineNeverCloses() public {
        // deposits go on while the cluster lands batches (here: none, until the grace runs out)
        vm.warp(block.timestamp + GRACE - 1);
        vm.prank(alice);
        layer.deposit{value: 1 ether}(alice);
        vm.warp(type(uint64).max);
        vm.assertFalse(layer.isClosing(), "isClosing");
    }

    function test_RevertWhen_DepositAfterSettle() public {
        settleNext(0, keccak256("balances"));
        vm.assertFalse(layer.isClosing(), "neither closed nor past a deadline");
        vm.expectRevert(FlashLayer.LayerClosing.selector);
        vm.prank(alice);
        layer.deposit{value: 1 ether}(alice);
    }
}

// ====================================================================== settle (final batch)

contract FlashLayerSettleTest is LifecycleTestBase {
    bytes32 internal constant ROOT = keccak256("final balances");
    address internal alice;

    function setUp() public override {
        super.setUp();
        alice = fund(makeAddr("alice"), 10 ether);
        vm.startPrank(alice);
        layer.deposit{value: 1 ether}(alice);
        layer.deposit{value: 2 ether}(alice);
        vm.stopPrank();
    }

    function test_Settle() public {
        FlashLayer.Batch memory b1 = nextBatch(4);
        credit(b1, 1);
        submit(b1);
        vm.warp(5_000);
        vm.roll(77);
        layer.close();

        FlashLayer.Batch memory b = nextBatch(6);
        credit(b, 2);
        bytes[] memory sigs = finalSigs(layer, b, ROOT);
        vm.expectEmit(true, true, false, true, address(layer));
        emit FlashLayer.BatchAccepted(
            2, layer.batchHash(b), b.firstBlock, b.lastBlock, b.lastBlockHash, b.stateRoot, b.messagesRoot, b.txDataHash
        );
        vm.expectEmit(true, false, false, true, address(layer));
        emit FlashLayer.Settled(2, ROOT);
        layer.settle(b, ROOT, sigs);

        vm.assertTrue(layer.settled(), "settled");
        vm.assertEq(layer.balancesRoot(), ROOT, "balancesRoot");
        vm.assertEq(uint256(layer.lastBatchIndex()), 2, "the final batch is the last batch");
        vm.assertEq(layer.lastBatchHash(), layer.batchHash(b), "lastBatchHash");
        vm.assertEq(uint256(layer.lastBlock()), b.lastBlock, "lastBlock");
        FlashLayer.BatchRecord memory r = layer.batch(2);
        vm.assertEq(r.batchHash, layer.batchHash(b), "record hash");
        vm.assertEq(r.stateRoot, b.stateRoot, "record stateRoot");
        vm.assertEq(r.messagesRoot, b.messagesRoot, "record messagesRoot");
        vm.assertEq(uint256(r.lastDepositNonce), 2, "record lastDepositNonce");
        vm.assertEq(uint256(r.acceptedBlock), 77, "record acceptedBlock");
        vm.assertEq(uint256(r.acceptedAt), 5_000, "record acceptedAt");
    }

    function test_SettleAsFirstBatchWithoutClosing() public {
        FlashLayer.Batch memory b = settleNext(0, ROOT);
        vm.assertEq(uint256(b.index), 1, "index");
        vm.assertTrue(layer.settled(), "settled without close or deadline (end block fixed at creation)");
    }

    function test_SettleAnyQuorumAnySubmitter() public {
        FlashLayer.Batch memory b = nextBatch(1);
        bytes[] memory sigs = sigsBy(keys, idx(0, 2, 3), layer.finalBatchDigest(b, ROOT));
        vm.prank(makeAddr("anyone"));
        layer.settle(b, ROOT, sigs);
        vm.assertTrue(layer.settled(), "settled");
    }

    function test_RevertWhen_SettleSignedAsPlainBatch() public {
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        address recovered = recoverRaw(layer.finalBatchDigest(b, ROOT), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.settle(b, ROOT, sigs);
        vm.assertFalse(layer.settled(), "not settled");
    }

    function test_RevertWhen_FinalSignaturesUsedForPlainBatch() public {
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = finalSigs(layer, b, ROOT);
        address recovered = recoverRaw(layer.batchDigest(b), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.submitBatch(b, sigs);
    }

    function test_RevertWhen_SettleWithAnotherBalancesRoot() public {
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = finalSigs(layer, b, ROOT);
        bytes32 other = keccak256("other balances");
        address recovered = recoverRaw(layer.finalBatchDigest(b, other), sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotASigner.selector, 0, recovered));
        layer.settle(b, other, sigs);
    }

    function test_RevertWhen_SettleBelowThreshold() public {
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = sigsFirst(keys, 2, layer.finalBatchDigest(b, ROOT));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.BelowThreshold.selector, 2, 3));
        layer.settle(b, ROOT, sigs);
    }

    function test_RevertWhen_SettleBreaksTheChain() public {
        submit(nextBatch(2));
        FlashLayer.Batch memory b = nextBatch(3);
        b.index = 3;
        bytes[] memory sigs = finalSigs(layer, b, ROOT);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.WrongBatchIndex.selector, 2, 3));
        layer.settle(b, ROOT, sigs);

        b = nextBatch(3);
        credit(b, 3);
        sigs = finalSigs(layer, b, ROOT);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.DepositNonceOutOfRange.selector, 3, 0, 2));
        layer.settle(b, ROOT, sigs);
    }

    /// A zero balances root would make every claim impossible.
    function test_RevertWhen_SettleWithZeroBalancesRoot() public {
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = finalSigs(layer, b, bytes32(0));
        vm.expectRevert(FlashLayer.ZeroBalancesRoot.selector);
        layer.settle(b, bytes32(0), sigs);
        vm.assertFalse(layer.settled(), "not settled");
    }

    function test_RevertWhen_SettledTwice() public {
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = finalSigs(layer, b, ROOT);
        layer.settle(b, ROOT, sigs);
        vm.expectRevert(FlashLayer.LayerSettled.selector);
        layer.settle(b, ROOT, sigs); // replay

        FlashLayer.Batch memory next = nextBatch(3);
        bytes32 root2 = keccak256("second root");
        bytes[] memory sigs2 = finalSigs(layer, next, root2);
        vm.expectRevert(FlashLayer.LayerSettled.selector);
        layer.settle(next, root2, sigs2); // a properly signed second final batch
        vm.assertEq(layer.balancesRoot(), ROOT, "root unchanged");
    }

    function test_RevertWhen_SubmitBatchAfterSettle() public {
        settleNext(0, ROOT);
        FlashLayer.Batch memory b = nextBatch(3);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.batchDigest(b));
        vm.expectRevert(FlashLayer.LayerSettled.selector);
        layer.submitBatch(b, sigs);
        vm.assertEq(uint256(layer.lastBatchIndex()), 1, "lastBatchIndex");
    }

    /// Even a due change, signed after the final batch, is not applied once settled.
    function test_RevertWhen_UpdateSignersAfterSettle() public {
        layer.requestLeave(addrs[3]);
        vm.warp(block.timestamp + layer.membershipDelay());
        FlashLayer.Batch memory fb = settleNext(0, ROOT);
        address[] memory three = new address[](3);
        (three[0], three[1], three[2]) = (addrs[0], addrs[1], addrs[2]);
        bytes[] memory sigs = sigsFirst(keys, 3, layer.signerSetUpdateDigest(1, fb.index, 1, three, 3));
        vm.expectRevert(FlashLayer.LayerSettled.selector);
        layer.updateSigners(three, 3, fb.index, sigs);
        vm.assertEq(uint256(layer.epoch()), 0, "epoch");
        vm.assertTrue(layer.isSigner(addrs[3]), "set unchanged");
    }

    /// Messages of earlier batches and of the final batch stay relayable once settled.
    function test_MessagesRelayableAfterSettle() public {
        address bob = makeAddr("bob");
        address carol = makeAddr("carol");
        Message[] memory ms1 = new Message[](1);
        ms1[0] = Message({nonce: 1, sender: alice, target: bob, value: 0.5 ether, data: ""});
        uint64 b1 = submitWithMessages(ms1);
        Message[] memory ms2 = new Message[](2);
        ms2[0] = Message({nonce: 2, sender: alice, target: carol, value: 0.25 ether, data: ""});
        ms2[1] = Message({nonce: 3, sender: bob, target: bob, value: 1 ether, data: ""});
        FlashLayer.Batch memory fb = nextBatch(3);
        fb.messagesRoot = MessageTree.root(leavesOf(ms2));
        settleOn(layer, fb, ROOT);

        vm.warp(block.timestamp + WINDOW);
        relay(b1, ms1[0], MessageTree.proof(leavesOf(ms1), 0));
        relay(fb.index, ms2[0], MessageTree.proof(leavesOf(ms2), 0));
        relay(fb.index, ms2[1], MessageTree.proof(leavesOf(ms2), 1));
        vm.assertEq(bob.balance, 1.5 ether, "bob");
        vm.assertEq(carol.balance, 0.25 ether, "carol");
        vm.assertEq(address(layer).balance, 3 ether - 1.75 ether, "paid from the bridge");
    }
}

// ====================================================================== claim

contract FlashLayerClaimTest is LifecycleTestBase {
    uint256 internal constant SETTLED_AT = 1_000_000;
    Balance[] internal balances; // sorted by hashed address after setUp
    bytes32[] internal leaves;
    bytes32 internal root;

    function setUp() public override {
        (keys, addrs) = sortedKeys("signer", 4);
        layer = deployLayer(0, 10 ether); // 10 ETH allocated in the L2 genesis, nothing deposited

        Balance[] memory bs = new Balance[](5);
        bs[0] = Balance(makeAddr("alice"), 1 ether);
        bs[1] = Balance(makeAddr("bob"), 2 ether);
        bs[2] = Balance(makeAddr("carol"), 3 ether);
        bs[3] = Balance(makeAddr("dave"), 1.5 ether);
        bs[4] = Balance(makeAddr("erin"), 2.5 ether);
        leaves = balanceLeaves(bs);
        for (uint256 i = 0; i < bs.length; ++i) {
            balances.push(bs[i]);
        }
        root = MessageTree.root(leaves);

        vm.warp(SETTLED_AT);
        settleNext(0, root);
    }

    function proofOf(uint256 i) internal view returns (bytes32[] memory) {
        return MessageTree.proof(leaves, i);
    }

    function test_ClaimAll() public {
        vm.warp(SETTLED_AT + WINDOW);
        address relayer = makeAddr("relayer");
        for (uint256 i = 0; i < balances.length; ++i) {
            Balance memory b = balances[i];
            vm.assertEq(layer.balanceLeaf(b.account, b.amount), leaves[i], "balanceLeaf");
            vm.assertFalse(layer.claimed(b.account), "not claimed yet");
            vm.expectEmit(true, false, false, true, address(layer));
            emit FlashLayer.Claimed(b.account, b.amount);
            vm.prank(relayer); // anyone may claim for the account; the ETH goes to the account
            layer.claim(b.account, b.amount, proofOf(i));
            vm.assertEq(b.account.balance, b.amount, "paid to the account");
            vm.assertTrue(layer.claimed(b.account), "claimed");
        }
        vm.assertEq(relayer.balance, 0, "relayer got nothing");
        vm.assertEq(address(layer).balance, 0, "the genesis supply is fully paid out");
    }

    function test_ClaimSingleLeafTree() public {
        FlashLayer l = deployLayer(0, 1 ether);
        Balance[] memory bs = new Balance[](1);
        bs[0] = Balance(makeAddr("solo"), 1 ether);
        bytes32[] memory ls = balanceLeaves(bs);
        FlashLayer.Batch memory b = nextBatch(l, 1);
        settleOn(l, b, MessageTree.root(ls));
        vm.assertEq(l.balancesRoot(), ls[0], "root of one leaf = the leaf");
        vm.warp(block.timestamp + WINDOW);
        l.claim(bs[0].account, 1 ether, new bytes32[](0));
        vm.assertEq(bs[0].account.balance, 1 ether, "paid");
    }

    function test_RevertWhen_ClaimBeforeChallengeWindow() public {
        Balance memory b = balances[2];
        bytes32[] memory proof = proofOf(2);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ClaimWindowOpen.selector, SETTLED_AT + WINDOW));
        layer.claim(b.account, b.amount, proof);
        vm.warp(SETTLED_AT + WINDOW - 1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ClaimWindowOpen.selector, SETTLED_AT + WINDOW));
        layer.claim(b.account, b.amount, proof);
        vm.warp(SETTLED_AT + WINDOW);
        layer.claim(b.account, b.amount, proof);
        vm.assertEq(b.account.balance, b.amount, "paid at the end of the window");
    }

    function test_RevertWhen_ClaimedTwice() public {
        vm.warp(SETTLED_AT + WINDOW);
        Balance memory b = balances[1];
        layer.claim(b.account, b.amount, proofOf(1));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyClaimed.selector, b.account));
        layer.claim(b.account, b.amount, proofOf(1));
        vm.assertEq(b.account.balance, b.amount, "paid once");
        vm.assertEq(address(layer).balance, 10 ether - b.amount, "balance");
    }

    function test_RevertWhen_ClaimWrongAmount() public {
        vm.warp(SETTLED_AT + WINDOW);
        Balance memory b = balances[3];
        bytes32[] memory proof = proofOf(3);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidBalanceProof.selector, b.account, b.amount + 1));
        layer.claim(b.account, b.amount + 1, proof);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidBalanceProof.selector, b.account, b.amount - 1));
        layer.claim(b.account, b.amount - 1, proof);
        vm.assertFalse(layer.claimed(b.account), "still claimable");
        layer.claim(b.account, b.amount, proof);
    }

    function test_RevertWhen_ClaimWithWrongProof() public {
        vm.warp(SETTLED_AT + WINDOW);
        Balance memory b = balances[0];
        // another account's proof
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidBalanceProof.selector, b.account, b.amount));
        layer.claim(b.account, b.amount, proofOf(1));
        // someone else with this account's proof and amount
        address mallory = makeAddr("mallory");
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidBalanceProof.selector, mallory, b.amount));
        layer.claim(mallory, b.amount, proofOf(0));
        // empty proof
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidBalanceProof.selector, b.account, b.amount));
        layer.claim(b.account, b.amount, new bytes32[](0));
        // a truncated proof
        bytes32[] memory full = proofOf(0);
        bytes32[] memory rest = new bytes32[](full.length - 1);
        for (uint256 i = 1; i < full.length; ++i) {
            rest[i - 1] = full[i];
        }
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InvalidBalanceProof.selector, b.account, b.amount));
        layer.claim(b.account, b.amount, rest);
    }

    function test_RevertWhen_ClaimBeforeSettle() public {
        FlashLayer l = deployLayer(0, 10 ether);
        l.close();
        vm.expectRevert(FlashLayer.NotSettled.selector);
        l.claim(balances[0].account, balances[0].amount, proofOf(0));
    }

    function test_RevertWhen_ClaimExceedsBalance() public {
        FlashLayer l = deployLayer(0, 1 ether);
        Balance[] memory bs = new Balance[](2);
        bs[0] = Balance(makeAddr("x"), 2 ether); // more than the layer holds: a faulty root
        bs[1] = Balance(makeAddr("y"), 0.5 ether);
        bytes32[] memory ls = balanceLeaves(bs);
        settleOn(l, nextBatch(l, 1), MessageTree.root(ls));
        vm.warp(block.timestamp + WINDOW);
        uint256 i = bs[0].amount == 2 ether ? 0 : 1;
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.InsufficientBalance.selector, 2 ether, 1 ether));
        l.claim(bs[i].account, 2 ether, MessageTree.proof(ls, i));
    }

    function test_RevertWhen_AccountRejectsEthThenClaimsLater() public {
        Payee payee = new Payee();
        FlashLayer l = deployLayer(0, 3 ether);
        Balance[] memory bs = new Balance[](2);
        bs[0] = Balance(address(payee), 2 ether);
        bs[1] = Balance(makeAddr("z"), 1 ether);
        bytes32[] memory ls = balanceLeaves(bs);
        uint256 i = bs[0].account == address(payee) ? 0 : 1;
        settleOn(l, nextBatch(l, 1), MessageTree.root(ls));
        vm.warp(block.timestamp + WINDOW);
        bytes32[] memory proof = MessageTree.proof(ls, i);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.PaymentFailed.selector, address(payee), 2 ether));
        l.claim(address(payee), 2 ether, proof);
        vm.assertFalse(l.claimed(address(payee)), "not marked claimed");
        payee.setAccepting(true);
        l.claim(address(payee), 2 ether, proof);
        vm.assertEq(address(payee).balance, 2 ether, "paid");
    }
}

// ====================================================================== refunds

contract FlashLayerRefundTest is LifecycleTestBase {
    address internal alice;
    address internal bob;
    address internal carol;
    address internal relayer;

    function setUp() public override {
        super.setUp();
        alice = fund(makeAddr("alice"), 10 ether);
        bob = fund(makeAddr("bob"), 10 ether);
        carol = makeAddr("carol");
        relayer = makeAddr("relayer");
        vm.prank(alice);
        layer.deposit{value: 1 ether}(bob); // nonce 1: credited by the final batch
        vm.prank(bob);
        layer.deposit{value: 2 ether}(bob); // nonce 2: not credited
        vm.prank(alice);
        layer.deposit{value: 3 ether}(carol); // nonce 3: not credited
    }

    /// Settles `layer` (crediting deposits up to `lastDepositNonce`) and waits out the final batch's
    /// challenge window, from which refunds are possible.
    function settleAndWait(uint64 lastDepositNonce, bytes32 root) internal {
        settleNext(lastDepositNonce, root);
        vm.warp(block.timestamp + WINDOW);
    }

    function test_RefundUncreditedDeposits() public {
        vm.warp(1_000_000);
        settleNext(1, keccak256("balances"));
        // like claims, refunds trust the final batch only after its challenge window
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ClaimWindowOpen.selector, 1_000_000 + WINDOW));
        layer.refundDeposit(2, bob, bob, 2 ether);
        vm.warp(1_000_000 + WINDOW - 1);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ClaimWindowOpen.selector, 1_000_000 + WINDOW));
        layer.refundDeposit(2, bob, bob, 2 ether);
        vm.warp(1_000_000 + WINDOW);
        vm.assertFalse(layer.refunded(2), "not refunded yet");
        vm.expectEmit(true, false, false, true, address(layer));
        emit FlashLayer.DepositRefunded(2, bob, 2 ether);
        vm.prank(relayer);
        layer.refundDeposit(2, bob, bob, 2 ether);
        vm.assertEq(bob.balance, 10 ether, "bob got his 2 back");
        vm.assertTrue(layer.refunded(2), "refunded(2)");
        vm.assertFalse(layer.refunded(3), "refunded(3) not yet");

        vm.expectEmit(true, false, false, true, address(layer));
        emit FlashLayer.DepositRefunded(3, alice, 3 ether);
        vm.prank(relayer);
        layer.refundDeposit(3, alice, carol, 3 ether);
        vm.assertEq(alice.balance, 10 ether - 1 ether, "to the sender, not the L2 recipient");
        vm.assertEq(carol.balance, 0, "carol");
        vm.assertEq(relayer.balance, 0, "relayer");
        vm.assertEq(address(layer).balance, 1 ether, "the credited deposit stays (backs bob's L2 balance)");
    }

    function test_AllRefundableWhenNoneCredited() public {
        settleAndWait(0, keccak256("balances"));
        layer.refundDeposit(1, alice, bob, 1 ether);
        layer.refundDeposit(2, bob, bob, 2 ether);
        layer.refundDeposit(3, alice, carol, 3 ether);
        vm.assertEq(address(layer).balance, 0, "all refunded");
        vm.assertEq(alice.balance, 10 ether, "alice");
        vm.assertEq(bob.balance, 10 ether, "bob");
    }

    function test_RevertWhen_RefundCreditedDeposit() public {
        settleAndWait(1, keccak256("balances"));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 1));
        layer.refundDeposit(1, alice, bob, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 0));
        layer.refundDeposit(0, alice, bob, 1 ether);
    }

    function test_RevertWhen_RefundCreditedByEarlierBatch() public {
        FlashLayer.Batch memory b = nextBatch(2);
        credit(b, 2);
        submit(b);
        settleAndWait(2, keccak256("balances"));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 2));
        layer.refundDeposit(2, bob, bob, 2 ether);
        layer.refundDeposit(3, alice, carol, 3 ether);
    }

    function test_RevertWhen_RefundFieldsMismatch() public {
        settleAndWait(1, keccak256("balances"));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 2));
        layer.refundDeposit(2, alice, bob, 2 ether); // wrong from
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 2));
        layer.refundDeposit(2, bob, alice, 2 ether); // wrong to
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 2));
        layer.refundDeposit(2, bob, bob, 1 ether); // wrong amount
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 2));
        layer.refundDeposit(2, alice, carol, 3 ether); // another deposit's fields
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 4));
        layer.refundDeposit(4, bob, bob, 2 ether); // no such deposit
        vm.assertEq(address(layer).balance, 6 ether, "nothing paid");
    }

    function test_RevertWhen_RefundedTwice() public {
        settleAndWait(1, keccak256("balances"));
        layer.refundDeposit(2, bob, bob, 2 ether);
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.NotRefundable.selector, 2));
        layer.refundDeposit(2, bob, bob, 2 ether);
        vm.assertEq(bob.balance, 10 ether, "refunded once");
    }

    function test_RevertWhen_RefundBeforeSettle() public {
        layer.close();
        vm.expectRevert(FlashLayer.NotSettled.selector);
        layer.refundDeposit(2, bob, bob, 2 ether);
    }

    function test_RevertWhen_SenderRejectsEthThenRefundLater() public {
        Payee payee = new Payee();
        payee.depositTo{value: 0.5 ether}(layer, carol); // nonce 4
        settleAndWait(1, keccak256("balances"));
        vm.expectRevert(abi.encodeWithSelector(FlashLayer.PaymentFailed.selector, address(payee), 0.5 ether));
        layer.refundDeposit(4, address(payee), carol, 0.5 ether);
        payee.setAccepting(true);
        layer.refundDeposit(4, address(payee), carol, 0.5 ether);
        vm.assertEq(address(payee).balance, 0.5 ether, "refunded");
    }
}

// ====================================================================== ETH accounting

/// A whole layer life: genesis supply + deposits in, withdrawals + claims + refunds out, nothing left.
contract FlashLayerAccountingTest is LifecycleTestBase {
    function test_EveryWeiPaidOutExactlyOnce() public {
        address g1 = makeAddr("genesis 1");
        address g2 = makeAddr("genesis 2");
        address alice = fund(makeAddr("alice"), 3 ether);
        address bob = fund(makeAddr("bob"), 2 ether);
        address carol = makeAddr("carol");
        address dave = fund(makeAddr("dave"), 1 ether);

        vm.warp(1_000_000);
        layer = deployLayer(uint64(block.timestamp + 30 days), 4 ether); // L2 genesis: g1 1 ETH, g2 3 ETH
        vm.prank(alice);
        layer.deposit{value: 3 ether}(alice); // nonce 1
        vm.prank(bob);
        layer.deposit{value: 2 ether}(carol); // nonce 2

        // batch 1 credits both deposits and carries alice's 0.5 ETH withdrawal
        Message[] memory ms = new Message[](1);
        ms[0] = Message({nonce: 1, sender: alice, target: alice, value: 0.5 ether, data: ""});
        FlashLayer.Batch memory b1 = nextBatch(10);
        credit(b1, 2);
        b1.messagesRoot = MessageTree.root(leavesOf(ms));
        submit(b1);

        vm.prank(dave);
        layer.deposit{value: 1 ether}(dave); // nonce 3: too late, the cluster is ending the chain
        layer.close();
        vm.assertEq(address(layer).balance, 10 ether, "4 genesis + 6 deposited");

        // final balances: genesis 1 + 3, alice 3 - 0.5 withdrawn, carol 2 (the passer's 0.5 is burned
        // on L2 and not in the tree: it is paid out by the relay)
        Balance[] memory bs = new Balance[](4);
        bs[0] = Balance(g1, 1 ether);
        bs[1] = Balance(g2, 3 ether);
        bs[2] = Balance(alice, 2.5 ether);
        bs[3] = Balance(carol, 2 ether);
        bytes32[] memory ls = balanceLeaves(bs);
        FlashLayer.Batch memory fb = nextBatch(5);
        credit(fb, 2);
        settleOn(layer, fb, MessageTree.root(ls));

        vm.warp(block.timestamp + WINDOW);
        layer.refundDeposit(3, dave, dave, 1 ether);
        vm.assertEq(address(layer).balance, 9 ether, "after the refund");

        relay(b1.index, ms[0], MessageTree.proof(leavesOf(ms), 0));
        vm.assertEq(address(layer).balance, 8.5 ether, "after the withdrawal");
        for (uint256 i = 0; i < bs.length; ++i) {
            layer.claim(bs[i].account, bs[i].amount, MessageTree.proof(ls, i));
        }

        vm.assertEq(address(layer).balance, 0, "nothing left");
        vm.assertEq(g1.balance, 1 ether, "g1");
        vm.assertEq(g2.balance, 3 ether, "g2");
        vm.assertEq(alice.balance, 3 ether, "alice: 2.5 claimed + 0.5 withdrawn");
        vm.assertEq(bob.balance, 0, "bob gave carol 2");
        vm.assertEq(carol.balance, 2 ether, "carol");
        vm.assertEq(dave.balance, 1 ether, "dave refunded");
    }
}
