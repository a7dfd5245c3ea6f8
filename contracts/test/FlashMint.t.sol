// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "./utils/TestBase.sol";
import {LayerTestBase} from "./utils/LayerTestBase.sol";
import {FlashLayer} from "../src/FlashLayer.sol";
import {L2MessagePasser} from "../src/L2MessagePasser.sol";
import {MessageTree} from "../src/MessageTree.sol";
import {FlashMintNft} from "../src/examples/FlashMintNft.sol";
import {L1MintCollection} from "../src/examples/L1MintCollection.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// The FlashMintNft / L1MintCollection example: mint on L2, settle, relay, own on L1. L1 and L2 share
/// forge's EVM here: the L2MessagePasser is etched at its predeploy address (runtime code only, as in
/// the L2 genesis) and `layer` plays the layer's FlashLayer on L1.
contract FlashMintTest is LayerTestBase {
    address internal constant PASSER = 0xf1A5000000000000000000000000000000000001;
    bytes32 internal constant MESSAGE_SENT = keccak256("MessageSent(uint256,address,address,uint256,bytes,bytes32)");

    FlashMintNft internal l2Nft;
    L1MintCollection internal l1Collection;
    address internal alice;
    address internal bob;

    function setUp() public override {
        super.setUp();
        vm.etch(PASSER, address(new L2MessagePasser()).code);
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        // the two contracts refer to each other: deploy L1 with the L2 minter's precomputed address
        address l2Minter = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        l1Collection = new L1MintCollection(address(layer), l2Minter);
        l2Nft = new FlashMintNft(address(l1Collection));
        vm.assertEq(address(l2Nft), l2Minter, "precomputed L2 address");
    }

    /// The messages the passer emitted in `logs`, as the cluster decodes them.
    function messagesIn(Vm.Log[] memory logs) internal pure returns (Message[] memory ms) {
        ms = new Message[](logs.length);
        uint256 n = 0;
        for (uint256 i = 0; i < logs.length; ++i) {
            if (logs[i].emitter != PASSER || logs[i].topics[0] != MESSAGE_SENT) continue;
            (uint256 value, bytes memory data,) = abi.decode(logs[i].data, (uint256, bytes, bytes32));
            ms[n++] = Message({
                nonce: uint256(logs[i].topics[1]),
                sender: address(uint160(uint256(logs[i].topics[2]))),
                target: address(uint160(uint256(logs[i].topics[3]))),
                value: value,
                data: data
            });
        }
        assembly ("memory-safe") {
            mstore(ms, n)
        }
    }

    /// alice mints 1 and 3, bob mints 2; returns the three L2->L1 messages.
    function mintThree() internal returns (Message[] memory ms) {
        vm.recordLogs();
        vm.prank(alice);
        l2Nft.mint();
        vm.prank(bob);
        l2Nft.mint();
        vm.prank(alice);
        l2Nft.mint();
        ms = messagesIn(vm.getRecordedLogs());
        vm.assertEq(ms.length, 3, "one message per mint");
    }

    // ------------------------------------------------------------------ L2 side

    function test_Config() public view {
        vm.assertEq(address(l2Nft.MESSAGE_PASSER()), PASSER, "passer predeploy");
        vm.assertEq(l2Nft.l1Collection(), address(l1Collection), "l1Collection");
        vm.assertEq(address(l1Collection.flashLayer()), address(layer), "flashLayer");
        vm.assertEq(l1Collection.l2Minter(), address(l2Nft), "l2Minter");
        vm.assertEq(l2Nft.name(), l1Collection.name(), "same name");
        vm.assertEq(l2Nft.symbol(), l1Collection.symbol(), "same symbol");
    }

    function test_MintOnL2SendsMessage() public {
        bytes memory data = abi.encodeCall(L1MintCollection.mintTo, (alice, 1));
        bytes32 h = MessageTree.messageHash(1, address(l2Nft), address(l1Collection), 0, data);
        vm.expectEmit(true, true, true, true, PASSER);
        emit L2MessagePasser.MessageSent(1, address(l2Nft), address(l1Collection), 0, data, h);
        vm.prank(alice);
        vm.assertEq(l2Nft.mint(), 1, "first id");

        data = abi.encodeCall(L1MintCollection.mintTo, (bob, 2));
        h = MessageTree.messageHash(2, address(l2Nft), address(l1Collection), 0, data);
        vm.expectEmit(true, true, true, true, PASSER);
        emit L2MessagePasser.MessageSent(2, address(l2Nft), address(l1Collection), 0, data, h);
        vm.prank(bob);
        vm.assertEq(l2Nft.mint(), 2, "second id");

        vm.assertEq(l2Nft.ownerOf(1), alice, "owner of 1");
        vm.assertEq(l2Nft.ownerOf(2), bob, "owner of 2");
        vm.assertEq(l2Nft.totalSupply(), 2, "supply");
        vm.assertEq(L2MessagePasser(PASSER).messageNonce(), 2, "passer nonce");
    }

    function test_RevertWhen_ZeroAddresses() public {
        vm.expectRevert(FlashMintNft.ZeroAddress.selector);
        new FlashMintNft(address(0));
        vm.expectRevert(L1MintCollection.ZeroAddress.selector);
        new L1MintCollection(address(0), address(l2Nft));
        vm.expectRevert(L1MintCollection.ZeroAddress.selector);
        new L1MintCollection(address(layer), address(0));
    }

    // ------------------------------------------------------------------ L2 -> L1

    function test_MintRolledUpThroughBatch() public {
        Message[] memory ms = mintThree();
        bytes32[] memory leaves = leavesOf(ms);
        uint64 b = submitWithMessages(ms);

        vm.expectRevert(abi.encodeWithSelector(FlashLayer.ChallengeWindowOpen.selector, b, block.timestamp + WINDOW));
        relay(b, ms[0], MessageTree.proof(leaves, 0));

        vm.warp(block.timestamp + WINDOW);
        address relayer = makeAddr("relayer");
        for (uint256 i = 0; i < ms.length; ++i) {
            vm.prank(relayer); // anyone relays
            relay(b, ms[i], MessageTree.proof(leaves, i));
        }
        for (uint256 id = 1; id <= 3; ++id) {
            vm.assertEq(l1Collection.ownerOf(id), l2Nft.ownerOf(id), "same owner on L1 as on L2");
        }
        vm.assertEq(l1Collection.ownerOf(1), alice, "1");
        vm.assertEq(l1Collection.ownerOf(2), bob, "2");
        vm.assertEq(l1Collection.balanceOf(alice), 2, "alice holds 2 on L1");

        vm.expectRevert(abi.encodeWithSelector(FlashLayer.AlreadyRelayed.selector, msgHash(ms[1])));
        relay(b, ms[1], MessageTree.proof(leaves, 1));
    }

    /// The mint event runs until the layer ends; its messages are in the final batch.
    function test_MintRolledUpThroughFinalBatch() public {
        layer.close();
        Message[] memory ms = mintThree();
        bytes32[] memory leaves = leavesOf(ms);
        FlashLayer.Batch memory fb = nextBatch(3);
        fb.messagesRoot = MessageTree.root(leaves);
        bytes32 balancesRoot = keccak256("final balances");
        layer.settle(fb, balancesRoot, sigsFirst(keys, 3, layer.finalBatchDigest(fb, balancesRoot)));

        vm.warp(block.timestamp + WINDOW);
        // relayed in any order
        relay(fb.index, ms[2], MessageTree.proof(leaves, 2));
        relay(fb.index, ms[0], MessageTree.proof(leaves, 0));
        relay(fb.index, ms[1], MessageTree.proof(leaves, 1));
        vm.assertEq(l1Collection.ownerOf(1), alice, "1");
        vm.assertEq(l1Collection.ownerOf(2), bob, "2");
        vm.assertEq(l1Collection.ownerOf(3), alice, "3");
    }

    /// The L1 token goes to the minter even if the L2 token changed hands afterwards.
    function test_L1OwnerIsTheMinter() public {
        Message[] memory ms = mintThree();
        vm.prank(alice);
        l2Nft.transferFrom(alice, bob, 1);
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        relay(b, ms[0], MessageTree.proof(leavesOf(ms), 0));
        vm.assertEq(l1Collection.ownerOf(1), alice, "minted to the minter");
    }

    // ------------------------------------------------------------------ unauthorized

    function test_RevertWhen_MintToCalledDirectly() public {
        vm.expectRevert(abi.encodeWithSelector(L1MintCollection.NotFlashLayer.selector, alice));
        vm.prank(alice);
        l1Collection.mintTo(alice, 1);
        // even with the L2 minter's address (same address on L1, no relay)
        vm.expectRevert(abi.encodeWithSelector(L1MintCollection.NotFlashLayer.selector, address(l2Nft)));
        vm.prank(address(l2Nft));
        l1Collection.mintTo(alice, 1);
    }

    function test_RevertWhen_ForwarderCallsOutsideARelay() public {
        address forwarder = address(layer.forwarder());
        vm.expectRevert(abi.encodeWithSelector(L1MintCollection.NotL2Minter.selector, address(0)));
        vm.prank(forwarder);
        l1Collection.mintTo(alice, 1);
    }

    /// Relayed calls come from the forwarder: the FlashLayer address itself is not trusted.
    function test_RevertWhen_CalledByTheLayerItself() public {
        vm.expectRevert(abi.encodeWithSelector(L1MintCollection.NotFlashLayer.selector, address(layer)));
        vm.prank(address(layer));
        l1Collection.mintTo(alice, 1);
    }

    /// Anyone can send messages on L2: a message to the collection from another L2 contract is proven
    /// and relayed like any other, but the collection refuses it (and it stays unrelayed).
    function test_RevertWhen_MessageFromAnotherL2Sender() public {
        address impostor = makeAddr("l2 impostor");
        vm.recordLogs();
        vm.prank(impostor);
        L2MessagePasser(PASSER).sendMessage(address(l1Collection), abi.encodeCall(L1MintCollection.mintTo, (bob, 1)));
        Message[] memory ms = messagesIn(vm.getRecordedLogs());
        uint64 b = submitWithMessages(ms);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(abi.encodeWithSelector(L1MintCollection.NotL2Minter.selector, impostor));
        relay(b, ms[0], MessageTree.proof(leavesOf(ms), 0));
        vm.assertFalse(layer.relayed(msgHash(ms[0])), "not relayed");
        vm.expectRevert(abi.encodeWithSelector(IERC721Errors.ERC721NonexistentToken.selector, 1));
        l1Collection.ownerOf(1);
    }

    /// Another layer's FlashLayer relaying a message "from" the same L2 address is refused: the
    /// collection trusts one layer only.
    function test_RevertWhen_RelayedByAnotherLayer() public {
        FlashLayer otherLayer =
            new FlashLayer(addrs, 3, keccak256("other genesis"), WINDOW, 0, 0, ckeys(addrs), 0, recourse());
        Message[] memory ms = new Message[](1);
        ms[0] = Message({
            nonce: 1,
            sender: address(l2Nft),
            target: address(l1Collection),
            value: 0,
            data: abi.encodeCall(L1MintCollection.mintTo, (bob, 1))
        });
        FlashLayer.Batch memory b = nextBatch(otherLayer, 3);
        b.messagesRoot = MessageTree.root(leavesOf(ms));
        otherLayer.submitBatch(b, sigsFirst(keys, 3, otherLayer.batchDigest(b)));
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(L1MintCollection.NotFlashLayer.selector, address(otherLayer.forwarder()))
        );
        otherLayer.relayMessage(b.index, 1, ms[0].sender, ms[0].target, 0, ms[0].data, new bytes32[](0));
    }
}
