//! The engine does no I/O: everything from outside (Vault data, files, environment, clock, links)
//! comes through its `Context` trait. This test reads the crate's sources and fails on a direct
//! use of the file system, the environment, processes, the network, the clock or stdio outside
//! the `#[cfg(test)]` parts, and on any `vaultlet-shared` item besides its data types.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::env",
    "std::process",
    "std::net",
    "std::io",
    "std::thread",
    "SystemTime::now",
    "Instant::now",
    "println!",
    "eprintln!",
    "print!",
    "eprint!",
    "dbg!",
    "tokio",
];

/// The `vaultlet_shared` items the engine may name: data types and the pure Go-compat layer, no client.
const SHARED_ALLOWED: &[&str] = &[
    "vaultlet_shared::json",
    "vaultlet_shared::go",
    "vaultlet_shared::vault::Secret",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The part of a source file that is compiled outside tests: up to its first `#[cfg(test)]`
/// (every file keeps its tests at the end); `exec_tests.rs` is a test module as a whole.
fn non_test_part(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "exec_tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// A line without its `//` comment (doc comments may name what the code must not do).
fn code_of(line: &str) -> &str {
    line.find("//").map_or(line, |at| &line[..at])
}

#[test]
fn the_engine_reaches_the_world_only_through_its_context() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 10, "sources found: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        for (n, line) in non_test_part(file).lines().enumerate() {
            let code = code_of(line);
            for word in FORBIDDEN {
                if code.contains(word) {
                    found.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
            let mut rest = code;
            while let Some(at) = rest.find("vaultlet_shared::") {
                let used = &rest[at..];
                if !SHARED_ALLOWED.iter().any(|ok| used.starts_with(ok)) {
                    found.push(format!("{}:{}: {used}", file.display(), n + 1));
                }
                rest = &rest[at + 1..];
            }
        }
    }
    assert!(
        found.is_empty(),
        "I/O outside the Context trait:\n{}",
        found.join("\n")
    );
}
