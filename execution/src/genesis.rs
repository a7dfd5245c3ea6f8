//! Genesis allocs of any size: read in one pass, never held whole.
//!
//! A layer's genesis is geth's format inside `layer.json` (`chain.genesis.alloc`). An airdrop
//! layer may start with millions of accounts, which as one `serde_json::Value` (or alloy's
//! `BTreeMap` of `GenesisAccount`s) would take gigabytes. So the description is parsed with
//! the alloc kept only up to [`KEEP_ALLOC_UP_TO`] entries; past that the parse counts and
//! drops them, and genesis streams the alloc from the file again ([`stream_alloc`]) into the
//! state in chunks ([`crate::BlockExecutor::open`]).

use crate::{Error, Result};
use alloy::{
    genesis::{Genesis, GenesisAccount},
    primitives::Address,
};
use serde::{
    Deserializer,
    de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor},
};
use std::{collections::BTreeMap, fmt, path::Path};

/// Largest alloc a parsed layer description holds in memory; larger ones are streamed.
pub const KEEP_ALLOC_UP_TO: usize = 100_000;

/// Deserializes a `genesis` object, keeping its alloc only when it has at most
/// [`KEEP_ALLOC_UP_TO`] entries. Returns the genesis (alloc empty when dropped) and, when
/// dropped, the alloc's entry count.
pub(crate) fn deserialize_genesis<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<(Genesis, Option<u64>), D::Error> {
    struct GenesisVisitor;
    impl<'de> Visitor<'de> for GenesisVisitor {
        type Value = (Genesis, Option<u64>);
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a genesis object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields = serde_json::Map::new();
            let mut alloc = BTreeMap::new();
            let mut dropped = None;
            while let Some(key) = map.next_key::<String>()? {
                if key == "alloc" {
                    let (kept, count) = map.next_value_seed(AllocSeed { keep: &mut alloc, sink: None })?;
                    if !kept {
                        alloc.clear();
                        dropped = Some(count);
                    }
                } else {
                    fields.insert(key, map.next_value::<serde_json::Value>()?);
                }
            }
            let mut genesis: Genesis = serde_json::from_value(serde_json::Value::Object(fields))
                .map_err(serde::de::Error::custom)?;
            genesis.alloc = alloc;
            Ok((genesis, dropped))
        }
    }
    d.deserialize_map(GenesisVisitor)
}

type Sink<'a> = &'a mut dyn FnMut(Address, GenesisAccount) -> Result<()>;

/// Visits an alloc map: each entry goes to `sink` when there is one, else into `keep` while it
/// holds fewer than [`KEEP_ALLOC_UP_TO`]. Yields whether `keep` holds the whole alloc, and the
/// entry count.
struct AllocSeed<'a> {
    keep: &'a mut BTreeMap<Address, GenesisAccount>,
    sink: Option<Sink<'a>>,
}

impl<'de> DeserializeSeed<'de> for AllocSeed<'_> {
    type Value = (bool, u64);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AllocSeed<'_> {
    type Value = (bool, u64);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a genesis alloc (address -> account)")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut count = 0u64;
        let mut kept = true;
        while let Some((address, account)) = map.next_entry::<Address, GenesisAccount>()? {
            count += 1;
            if let Some(sink) = self.sink.as_mut() {
                sink(address, account).map_err(serde::de::Error::custom)?;
            } else if kept && self.keep.len() < KEEP_ALLOC_UP_TO {
                self.keep.insert(address, account);
            } else {
                kept = false;
            }
        }
        Ok((kept, count))
    }
}

/// Streams `chain.genesis.alloc` of the layer description at `path` to `sink`, one account at a
/// time, in file order; returns the number of accounts.
pub fn stream_alloc(path: &Path, mut sink: impl FnMut(Address, GenesisAccount) -> Result<()>) -> Result<u64> {
    /// Walks down the object path `keys`, ignoring every other key, to the alloc.
    struct Down<'a, 'b> {
        keys: &'a [&'a str],
        sink: Sink<'b>,
    }
    impl<'de> DeserializeSeed<'de> for Down<'_, '_> {
        type Value = u64;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Down<'_, '_> {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an object holding {:?}", self.keys)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
            let mut found = 0;
            while let Some(key) = map.next_key::<String>()? {
                if key != self.keys[0] {
                    map.next_value::<IgnoredAny>()?;
                } else if self.keys.len() == 1 {
                    let mut none = BTreeMap::new();
                    found =
                        map.next_value_seed(AllocSeed { keep: &mut none, sink: Some(&mut *self.sink) })?.1;
                } else {
                    found = map.next_value_seed(Down { keys: &self.keys[1..], sink: &mut *self.sink })?;
                }
            }
            Ok(found)
        }
    }
    let file =
        std::fs::File::open(path).map_err(|e| Error::Genesis(format!("opening {}: {e}", path.display())))?;
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    Down { keys: &["chain", "genesis", "alloc"], sink: &mut sink }
        .deserialize(&mut de)
        .map_err(|e| Error::Genesis(format!("reading the alloc of {}: {e}", path.display())))
}
