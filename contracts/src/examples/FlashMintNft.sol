// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {L2MessagePasser} from "../L2MessagePasser.sol";
import {L1MintCollection} from "./L1MintCollection.sol";

/// @title FlashMintNft
/// @notice Example (L2 side): a free, first-come-first-served NFT mint run on a flashlayer layer
/// whose result is rolled up to L1. The layer is gasless, so a crowd can mint as fast as the layer
/// includes transactions; ids go out in inclusion order.
///
/// 1. Anyone calls {mint}: the next id is minted to the caller here on L2, and the message
///    `L1MintCollection.mintTo(caller, id)` is sent to {l1Collection} through the L2MessagePasser
///    predeployed at {MESSAGE_PASSER}.
/// 2. The cluster commits to the message in the `messagesRoot` of the batch (or final batch) covering
///    the block, signed and submitted to the layer's FlashLayer contract on L1.
/// 3. After the batch's challenge window anyone relays the message with `FlashLayer.relayMessage`,
///    which calls {L1MintCollection-mintTo} with `l2Sender()` = this contract.
/// 4. The NFT exists on L1 with the same id and owner; it outlives the layer.
///
/// The L1 token goes to the minter: transfers made here on L2 afterwards are not carried over (the L2
/// copy ends with the layer). The owner is the same address on L1, which for an EOA is the same key.
contract FlashMintNft is ERC721 {
    /// @notice The L2MessagePasser system contract, predeployed in every layer's L2 genesis.
    L2MessagePasser public constant MESSAGE_PASSER = L2MessagePasser(0xf1A5000000000000000000000000000000000001);

    /// @notice The {L1MintCollection} on L1 that each mint is sent to.
    address public immutable l1Collection;
    uint256 private _minted;

    /// @notice `l1Collection` is address(0).
    error ZeroAddress();

    /// @param l1Collection_ The {L1MintCollection} deployed on the layer's L1 for this contract.
    constructor(address l1Collection_) ERC721("Flash Mint", "FLASHMINT") {
        if (l1Collection_ == address(0)) revert ZeroAddress();
        l1Collection = l1Collection_;
    }

    /// @notice Mints the next token id (from 1) to the caller and sends the L1 mint message.
    /// The message (nonce, this contract, {l1Collection}, 0, `mintTo(caller, id)`) is in the passer's
    /// `MessageSent` event of this transaction.
    /// @return tokenId The minted id.
    function mint() external returns (uint256 tokenId) {
        tokenId = ++_minted;
        _mint(msg.sender, tokenId);
        MESSAGE_PASSER.sendMessage(l1Collection, abi.encodeCall(L1MintCollection.mintTo, (msg.sender, tokenId)));
    }

    /// @notice Tokens minted so far (none are ever burned).
    function totalSupply() external view returns (uint256) {
        return _minted;
    }
}
