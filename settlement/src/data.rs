//! Batch data: everything needed to re-execute a batch's blocks, in the versioned, compressed
//! encoding a batch's `txDataHash` commits to (`docs/settlement.md`, "Batch data").
//!
//! ```text
//! data       = version (1 byte, DATA_VERSION) ++ deflate(rlp(block_1) ++ ... ++ rlp(block_n))
//! txDataHash = keccak256(data)                                  (committee, l1-calldata)
//! txDataHash = keccak256(versionedHash_1 ++ ... ++ versionedHash_k)  (l1-blobs)
//! ```
//!
//! On an `l1-blobs` layer the data is cut into EIP-4844 blobs with alloy's `SimpleCoder` (31
//! bytes per field element, a length prefix first; [`to_blobs`]) and the batch commits to the
//! blobs' versioned hashes (the KZG commitment's SHA-256 with version byte 0x01), which the
//! contract reads with BLOBHASH and checks against `txDataHash` ([`blobs_commitment`]). The
//! blobs, and so their hashes, are a function of the data, so every node derives the same
//! commitment.
//!
//! Each [`BlockData`] holds what the executor needs to produce that block again (timestamp,
//! the consensus block hash that becomes PREVRANDAO, L1 origin, deposits, membership change,
//! end flag, included transactions as EIP-2718 bytes) and three fields of the header its
//! producers claim (hash, state root, receipts root), so that a verifier can name the first
//! block and field that differ, not only the batch.
//!
//! Every node derives the data (and so the hash it signs) from its own executed chain, so the
//! compression must be bit-for-bit the same on every node: it is miniz_oxide's DEFLATE at a
//! fixed level, used directly rather than through flate2 (whose backend a feature elsewhere in
//! the dependency graph can switch), and a golden test pins the output. A compressor change
//! that alters the bytes is a new [`DATA_VERSION`], not a silent update.

use crate::{Error, Result};
use alloy::{
    eips::{
        eip2718::Encodable2718,
        eip4844::{
            Blob, FIELD_ELEMENTS_PER_BLOB,
            builder::{SidecarBuilder, SidecarCoder, SimpleCoder},
            c_kzg,
            env_settings::EnvKzgSettings,
            kzg_to_versioned_hash,
        },
    },
    primitives::{B256, Bytes, keccak256},
    rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable},
};
use flashlayer_execution::{BlockExecutor, Deposit, L1Origin, MembershipChange, Payload};
use flashlayer_storage::Db;

/// Where a layer's batch data goes, fixed at `create` (the contract's `dataAvailability`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataAvailability {
    /// AnyTrust-style: the operators keep the data and serve it (`flash_batchData`, archives);
    /// a signature on a batch attests that its signer stores the data. No L1 cost.
    #[default]
    Committee,
    /// Each batch carries its data in the submission's calldata (`submitBatchWithData`), which
    /// the contract checks against `txDataHash`.
    L1Calldata,
    /// Each batch's submission is an EIP-4844 transaction whose blobs carry its data; the
    /// contract checks their versioned hashes against `txDataHash` and records them.
    L1Blobs,
}

impl DataAvailability {
    /// The contract's constant for this mode (`DA_COMMITTEE`, `DA_L1_CALLDATA`, `DA_L1_BLOBS`).
    pub const fn contract_mode(self) -> u8 {
        match self {
            Self::Committee => 0,
            Self::L1Calldata => 1,
            Self::L1Blobs => 2,
        }
    }

    /// The `txDataHash` a batch with this `data` carries on a layer of this mode (see the
    /// module docs). For `l1-blobs` this computes the blobs' KZG commitments (tens of
    /// milliseconds per blob).
    pub fn commitment(self, data: &[u8]) -> Result<B256> {
        match self {
            Self::Committee | Self::L1Calldata => Ok(data_hash(data)),
            Self::L1Blobs => Ok(blobs_commitment(&blob_versioned_hashes(&to_blobs(data)?)?)),
        }
    }

    /// The mode of a contract's `dataAvailability()`.
    pub fn from_contract_mode(mode: u8) -> Option<Self> {
        match mode {
            0 => Some(Self::Committee),
            1 => Some(Self::L1Calldata),
            2 => Some(Self::L1Blobs),
            _ => None,
        }
    }
}

impl std::fmt::Display for DataAvailability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Committee => "committee",
            Self::L1Calldata => "l1-calldata",
            Self::L1Blobs => "l1-blobs",
        })
    }
}

impl std::str::FromStr for DataAvailability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "committee" => Ok(Self::Committee),
            "l1-calldata" => Ok(Self::L1Calldata),
            "l1-blobs" => Ok(Self::L1Blobs),
            other => Err(format!("unknown data availability {other:?}: committee, l1-calldata or l1-blobs")),
        }
    }
}

/// The encoding version this node writes and reads.
pub const DATA_VERSION: u8 = 1;
/// The DEFLATE level of version 1 (miniz_oxide's scale, 0-10).
const DEFLATE_LEVEL: u8 = 6;
/// Largest decompressed batch a reader accepts: the bound on what a tampered or hostile
/// payload (a decompression bomb) can make a verifier allocate.
pub const MAX_DECODED_BYTES: usize = 512 << 20;

/// One block of a batch, as re-execution needs it.
#[derive(Debug, Clone, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct BlockData {
    /// L2 block number.
    pub number: u64,
    /// Block timestamp.
    pub timestamp: u64,
    /// The HotStuff block hash that ordered it (the header's `mix_hash`, i.e. PREVRANDAO).
    pub consensus_hash: B256,
    /// The L1 block its deposits were read up to.
    pub l1_origin: L1Origin,
    /// Deposits credited before its transactions.
    pub deposits: Vec<Deposit>,
    /// The sequencer-set change it carries, if any.
    pub membership: Vec<MembershipChange>,
    /// Whether this block ended the layer.
    pub end: bool,
    /// Included transactions in order, EIP-2718 encoded (skipped ones left out: they changed
    /// nothing).
    pub transactions: Vec<Bytes>,
    /// The block hash its producers claim.
    pub hash: B256,
    /// The state root its producers claim.
    pub state_root: B256,
    /// The receipts root its producers claim.
    pub receipts_root: B256,
}

impl BlockData {
    /// Block `number` as stored in `db` (an executed block).
    pub fn from_db(db: &Db, number: u64) -> Result<Self> {
        let block = db.block(number)?.ok_or(Error::MissingBlock(number))?;
        let settlement = BlockExecutor::settlement_of(db, number)?;
        Ok(Self {
            number,
            timestamp: block.header.timestamp,
            consensus_hash: block.header.mix_hash,
            l1_origin: settlement.l1_origin,
            deposits: settlement.deposits,
            membership: settlement.membership,
            end: settlement.ended_at == number,
            transactions: block.transactions.iter().map(|tx| Bytes::from(tx.encoded_2718())).collect(),
            hash: block.hash,
            state_root: block.header.state_root,
            receipts_root: block.header.receipts_root,
        })
    }

    /// The payload that re-executes this block.
    pub fn payload(&self) -> Payload {
        Payload {
            timestamp: self.timestamp,
            transactions: self.transactions.clone(),
            l1_origin: self.l1_origin,
            deposits: self.deposits.clone(),
            end: self.end,
            membership: self.membership.clone(),
        }
    }
}

/// Encodes `blocks` as batch data (see the module docs).
pub fn encode(blocks: &[BlockData]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(blocks.iter().map(Encodable::length).sum());
    for block in blocks {
        block.encode(&mut raw);
    }
    let mut data = Vec::with_capacity(raw.len() / 2 + 1);
    data.push(DATA_VERSION);
    data.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&raw, DEFLATE_LEVEL));
    data
}

/// Decodes batch data, refusing an unknown version, a corrupt or oversized stream and trailing
/// garbage.
pub fn decode(data: &[u8]) -> Result<Vec<BlockData>> {
    decode_limited(data, MAX_DECODED_BYTES)
}

fn decode_limited(data: &[u8], limit: usize) -> Result<Vec<BlockData>> {
    let (&version, compressed) = data.split_first().ok_or(Error::Data("empty".into()))?;
    if version != DATA_VERSION {
        return Err(Error::Data(format!("version {version}, this build reads version {DATA_VERSION}")));
    }
    let raw = miniz_oxide::inflate::decompress_to_vec_with_limit(compressed, limit)
        .map_err(|e| Error::Data(format!("deflate stream: {e}")))?;
    let mut rest = raw.as_slice();
    let mut blocks = Vec::new();
    while !rest.is_empty() {
        let block = BlockData::decode(&mut rest)
            .map_err(|e| Error::Data(format!("block {} of the batch: {e}", blocks.len() + 1)))?;
        blocks.push(block);
    }
    Ok(blocks)
}

/// The commitment a batch carries for its data (`txDataHash`).
pub fn data_hash(data: &[u8]) -> B256 {
    keccak256(data)
}

/// The most blobs one batch may carry: the contract's `MAX_BATCH_BLOBS`, EIP-7594's cap per
/// transaction (the contract reads the blobs of the one transaction that submits the batch).
pub const MAX_BATCH_BLOBS: usize = 6;

/// Bytes of batch data one blob holds (31 per field element; the first element of the first
/// blob is the length prefix).
pub const BLOB_DATA_BYTES: usize = FIELD_ELEMENTS_PER_BLOB as usize * 31;

/// The most batch data an `l1-blobs` batch can carry ([`MAX_BATCH_BLOBS`] blobs).
pub const MAX_BLOB_DATA: usize = MAX_BATCH_BLOBS * BLOB_DATA_BYTES - 31;

/// The most batch data (before compression) an `l1-blobs` batch holds: what its blobs carry,
/// less a margin for DEFLATE's framing (a few bytes per 64 KiB stored block when the data does
/// not compress).
pub const BLOB_BATCH_BUDGET: usize = MAX_BLOB_DATA - 4096;

/// The largest block payload on an `l1-blobs` layer: half a batch's budget less the block's
/// own fields, so that a batch closed at half its budget ([`crate::BatchChain`]) always fits
/// in its blobs. This caps a blob layer's throughput per block (about 3,300 plain transfers).
pub const BLOB_MAX_BLOCK_BYTES: usize = BLOB_BATCH_BUDGET / 2 - 4096;

/// Cuts batch data into blobs (alloy's `SimpleCoder`), refusing data that needs more than
/// [`MAX_BATCH_BLOBS`].
pub fn to_blobs(data: &[u8]) -> Result<Vec<Blob>> {
    if data.len() > MAX_BLOB_DATA {
        return Err(Error::Data(format!(
            "{} bytes of batch data need more than {MAX_BATCH_BLOBS} blobs ({MAX_BLOB_DATA} bytes)",
            data.len()
        )));
    }
    Ok(SidecarBuilder::<SimpleCoder>::from_slice(data).take())
}

/// The batch data `blobs` carry ([`to_blobs`]'s inverse); refuses blobs that are not one
/// `SimpleCoder` payload.
pub fn from_blobs(blobs: &[Blob]) -> Result<Vec<u8>> {
    let mut pieces = SimpleCoder::default()
        .decode_all(blobs)
        .ok_or_else(|| Error::Data("the blobs are not SimpleCoder-encoded data".into()))?;
    match pieces.len() {
        1 => Ok(pieces.remove(0)),
        n => Err(Error::Data(format!("the blobs hold {n} payloads, a batch is one"))),
    }
}

/// The versioned hashes of `blobs` (EIP-4844: version 0x01 ++ sha256(KZG commitment)[1..]),
/// with Ethereum's trusted setup.
pub fn blob_versioned_hashes(blobs: &[Blob]) -> Result<Vec<B256>> {
    let settings = EnvKzgSettings::Default.get();
    blobs
        .iter()
        .map(|blob| {
            let blob =
                c_kzg::Blob::from_bytes(blob.as_slice()).map_err(|e| Error::Data(format!("blob: {e}")))?;
            let commitment = settings
                .blob_to_kzg_commitment(&blob)
                .map_err(|e| Error::Data(format!("KZG commitment: {e}")))?;
            Ok(kzg_to_versioned_hash(commitment.to_bytes().as_slice()))
        })
        .collect()
}

/// The `txDataHash` of an `l1-blobs` batch: keccak256 of its blobs' versioned hashes, in order
/// (what the contract computes from BLOBHASH).
pub fn blobs_commitment(hashes: &[B256]) -> B256 {
    let mut packed = Vec::with_capacity(32 * hashes.len());
    for hash in hashes {
        packed.extend_from_slice(hash.as_slice());
    }
    keccak256(packed)
}

/// The batch data of blocks `first..=last` out of `db`.
pub fn encode_range(db: &Db, first: u64, last: u64) -> Result<Vec<u8>> {
    let blocks = (first..=last).map(|n| BlockData::from_db(db, n)).collect::<Result<Vec<_>>>()?;
    Ok(encode(&blocks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, U256, address, b256};

    fn sample() -> Vec<BlockData> {
        (1..=3u64)
            .map(|n| BlockData {
                number: n,
                timestamp: 1_700_000_000 + n,
                consensus_hash: B256::with_last_byte(n as u8),
                l1_origin: L1Origin { number: 10 + n, hash: B256::repeat_byte(0xaa) },
                deposits: vec![Deposit {
                    nonce: n,
                    from: address!("0x00000000000000000000000000000000000000f1"),
                    to: Address::with_last_byte(n as u8),
                    amount: U256::from(n * 1_000),
                }],
                membership: vec![],
                end: n == 3,
                transactions: vec![Bytes::from(vec![0x02; 120]), Bytes::from(vec![n as u8; 90])],
                hash: B256::repeat_byte(n as u8),
                state_root: B256::repeat_byte(0x10 + n as u8),
                receipts_root: B256::repeat_byte(0x20 + n as u8),
            })
            .collect()
    }

    #[test]
    fn batch_data_round_trips() {
        let blocks = sample();
        let data = encode(&blocks);
        assert_eq!(data[0], DATA_VERSION);
        assert_eq!(decode(&data).expect("decodes"), blocks);
        assert!(data.len() < alloy::rlp::encode(&blocks).len(), "compressed");
    }

    /// Every node must produce the same bytes for the same blocks: a change of this hash means
    /// the encoding changed, which needs a new DATA_VERSION (nodes of two versions would sign
    /// different batches).
    #[test]
    fn version_1_encoding_is_pinned() {
        assert_eq!(
            data_hash(&encode(&sample())),
            b256!("0x50f7e4d75da3363dda67a1ac93cdd6cb38588407d0a05fc352e214c30ae2672b")
        );
    }

    /// Data goes into blobs and comes back; the commitment is over the blobs' versioned hashes
    /// and is pinned like the encoding (every node must derive the same); too much data is
    /// refused before any blob is made.
    #[test]
    fn batch_data_rides_in_blobs() {
        let data = encode(&sample());
        let blobs = to_blobs(&data).unwrap();
        assert_eq!(blobs.len(), 1);
        assert_eq!(from_blobs(&blobs).unwrap(), data);
        let hashes = blob_versioned_hashes(&blobs).unwrap();
        assert_eq!(hashes[0][0], 0x01, "KZG version byte");
        assert_eq!(DataAvailability::L1Blobs.commitment(&data).unwrap(), blobs_commitment(&hashes));
        assert_eq!(DataAvailability::L1Calldata.commitment(&data).unwrap(), data_hash(&data));
        assert_eq!(
            DataAvailability::L1Blobs.commitment(&data).unwrap(),
            b256!("0xfe3c1e411ad1f2ce2d1f4964ea42ff2f57dd935b3c5ab9d624ae9ec92396f4a5")
        );
        // More than one blob: the split and the order hold.
        let big: Vec<u8> = (0..BLOB_DATA_BYTES + 1000).map(|i| (i * 7 % 251) as u8).collect();
        let blobs = to_blobs(&big).unwrap();
        assert_eq!(blobs.len(), 2);
        assert_eq!(from_blobs(&blobs).unwrap(), big);
        let mut swapped = blobs.clone();
        swapped.swap(0, 1);
        assert_ne!(from_blobs(&swapped).ok(), Some(big.clone()));
        // The most that fits, and one byte more.
        assert_eq!(to_blobs(&vec![7; MAX_BLOB_DATA]).unwrap().len(), MAX_BATCH_BLOBS);
        let err = to_blobs(&vec![7; MAX_BLOB_DATA + 1]).unwrap_err().to_string();
        assert!(err.contains("more than 6 blobs"), "{err}");
    }

    #[test]
    fn bad_data_is_refused_with_a_reason() {
        let data = encode(&sample());
        let mut other_version = data.clone();
        other_version[0] = 2;
        assert!(decode(&other_version).unwrap_err().to_string().contains("version 2"));
        assert!(decode(&[]).is_err());
        let mut truncated = data.clone();
        truncated.truncate(data.len() - 3);
        assert!(decode(&truncated).is_err());
        // A valid stream of something that is not blocks.
        let mut junk = vec![DATA_VERSION];
        junk.extend(miniz_oxide::deflate::compress_to_vec(&[0xff; 64], 6));
        assert!(decode(&junk).is_err());
        // A bomb: far more than the limit once inflated.
        let mut bomb = vec![DATA_VERSION];
        bomb.extend(miniz_oxide::deflate::compress_to_vec(&vec![0u8; (1 << 20) + 1], 10));
        assert!(decode_limited(&bomb, 1 << 20).unwrap_err().to_string().contains("deflate"));
    }
}
