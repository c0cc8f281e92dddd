//! Command line of `vaultlet-injector` (being written).
fn main() -> anyhow::Result<()> {
    Ok(())
}
