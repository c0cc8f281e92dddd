//! vaultlet-tests: the harness every crate's integration tests use (being written).
