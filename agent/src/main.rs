//! Command line of `vaultlet-agent` (being written).
fn main() -> anyhow::Result<()> {
    Ok(())
}
