//! `docs/annotations.md` is generated from the annotation table; this test fails when the committed
//! file is stale. Regenerate it with:
//!
//! ```sh
//! VAULTLET_BLESS=1 cargo test -p vaultlet-shared --test docs_reference
//! ```

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

use vaultlet_shared::annotations::reference::annotations_markdown;

const REGENERATE: &str = "VAULTLET_BLESS=1 cargo test -p vaultlet-shared --test docs_reference";

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/annotations.md")
}

#[test]
fn annotations_reference_is_up_to_date() {
    let path = doc_path();
    let generated = annotations_markdown();
    if std::env::var_os("VAULTLET_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("docs dir")).expect("create docs/");
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let committed = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => panic!(
            "cannot read {}: {e}\nGenerate it with: {REGENERATE}",
            path.display()
        ),
    };
    if committed != generated {
        let first_diff = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "the files differ in length".to_string(),
                |i| {
                    format!(
                        "first difference at line {}:\n  committed: {}\n  generated: {}",
                        i + 1,
                        committed.lines().nth(i).unwrap_or(""),
                        generated.lines().nth(i).unwrap_or("")
                    )
                },
            );
        panic!(
            "{} is stale: it no longer matches shared/src/annotations/table.rs.\n{first_diff}\n\
             Regenerate it with: {REGENERATE}",
            path.display()
        );
    }
}
