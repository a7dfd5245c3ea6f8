use thiserror::Error;

/// Storage errors.
#[derive(Debug, Error)]
pub enum Error {
    /// RocksDB itself failed (I/O, corruption, options).
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A stored value did not decode: the database is corrupt or from another version.
    #[error("corrupt value in table {table}: {reason}")]
    Corrupt {
        /// Column family the value came from.
        table: &'static str,
        /// What failed to decode.
        reason: String,
    },
    /// The database was written by an incompatible version of flashlayer.
    #[error("database schema version {found}, this binary reads version {expected}")]
    SchemaVersion {
        /// Version found on disk.
        found: u32,
        /// Version this binary writes.
        expected: u32,
    },
}

// revm wants its database errors to carry this marker.
impl revm::database_interface::DBErrorMarker for Error {}

/// Result with the storage [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A row of `table` that does not decode.
    pub fn corrupt(table: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Corrupt { table, reason: reason.to_string() }
    }
}
