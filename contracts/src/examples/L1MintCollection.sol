// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {FlashLayer, MessageForwarder} from "../FlashLayer.sol";

/// @title L1MintCollection
/// @notice Example (L1 side): the lasting home of an NFT collection minted on a flashlayer layer by
/// {FlashMintNft}. A layer is disposable, so the mint event happens on L2 (free, fast, first come
/// first served) and its result is rolled up to L1 through L2->L1 messages:
///
/// 1. On L2, `FlashMintNft.mint()` mints token `id` to the caller and sends the message
///    `mintTo(caller, id)` to this contract through the L2MessagePasser.
/// 2. The layer's cluster commits to the message in the `messagesRoot` of a batch (or of the final
///    batch) that it signs and submits to the layer's {FlashLayer} contract on L1.
/// 3. Once that batch's challenge window has passed, anyone (the minter, a relayer, a script) calls
///    `FlashLayer.relayMessage` with the message and its Merkle proof. FlashLayer calls {mintTo} through
///    its forwarder (`FlashLayer.forwarder()`, which holds nothing); during the call the forwarder's
///    `l2Sender()` is the L2 contract that sent the message.
/// 4. {mintTo} checks that the call comes from that FlashLayer's forwarder AND that the L2 sender is the
///    collection's {FlashMintNft} (anyone can send messages from L2, and anyone can call this contract
///    on L1, so both checks are needed), then mints the same id to the same owner on L1.
///
/// Each message is relayable once (FlashLayer's replay protection), so each id is minted once; the
/// messages of every accepted batch stay relayable after the layer is settled.
///
/// Deployment: the two contracts refer to each other, so one address is computed in advance, e.g.
/// deploy this contract with `l2Minter` = the address the L2 deployer's next CREATE will get
/// (`cast compute-address <deployer> --nonce <n>` on L2), then deploy {FlashMintNft} on L2 with this
/// contract's address.
contract L1MintCollection is ERC721 {
    /// @notice The FlashLayer contract of the layer the collection was minted on.
    FlashLayer public immutable flashLayer;
    /// @notice The {FlashMintNft} contract on that layer's L2, the only sender {mintTo} accepts.
    address public immutable l2Minter;

    /// @notice A constructor argument is address(0).
    error ZeroAddress();
    /// @notice {mintTo} was not called by {flashLayer}'s forwarder (i.e. not through a relayed message).
    error NotFlashLayer(address caller);
    /// @notice The relayed message was not sent by {l2Minter} on L2 (`l2Sender` is address(0) when
    /// {flashLayer} calls outside a relay).
    error NotL2Minter(address l2Sender);

    /// @param flashLayer_ The layer's FlashLayer contract on this chain.
    /// @param l2Minter_ The layer's {FlashMintNft} address on L2.
    constructor(address flashLayer_, address l2Minter_) ERC721("Flash Mint", "FLASHMINT") {
        if (flashLayer_ == address(0) || l2Minter_ == address(0)) revert ZeroAddress();
        flashLayer = FlashLayer(payable(flashLayer_));
        l2Minter = l2Minter_;
    }

    /// @notice Mints token `tokenId` to `to`, as minted on L2. Only through `FlashLayer.relayMessage`
    /// of a message sent by {l2Minter}.
    /// @param to The owner of the token on L2 at mint time (the same address on L1).
    /// @param tokenId The token id on L2.
    function mintTo(address to, uint256 tokenId) external {
        MessageForwarder forwarder = flashLayer.forwarder();
        if (msg.sender != address(forwarder)) revert NotFlashLayer(msg.sender);
        address sender = forwarder.l2Sender();
        if (sender != l2Minter) revert NotL2Minter(sender);
        // _mint, not _safeMint: a recipient contract without onERC721Received must not make the
        // message unrelayable forever
        _mint(to, tokenId);
    }
}
