//! The layer order written in `src/lib.rs`'s crate docs holds: no module of the library refers to
//! (`crate::x`, outside comments) a module of a layer above its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Module name → layer number, from the `//! N. … [`module`] …` lines of lib.rs.
fn layers(lib: &str) -> HashMap<String, usize> {
    let item = regex::Regex::new(r"^//! (\d+)\. ").unwrap();
    let name = regex::Regex::new(r"\[`([a-z_]+)`\]").unwrap();
    let mut out = HashMap::new();
    let mut current = None;
    for line in lib.lines() {
        if !line.starts_with("//!") {
            continue;
        }
        if let Some(c) = item.captures(line) {
            current = Some(c[1].parse::<usize>().unwrap());
        } else if line.trim() == "//!" {
            current = None;
        }
        if let Some(n) = current {
            for c in name.captures_iter(line) {
                out.insert(c[1].to_string(), n);
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_refers_to_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer = layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(layer.len() > 5, "no layer list found in lib.rs: {layer:?}");
    let reference = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs");
        if module == "main" || module == "lib" {
            continue;
        }
        let Some(&own) = layer.get(module) else {
            wrong.push(format!(
                "{}: module {module} has no layer in lib.rs",
                rel.display()
            ));
            continue;
        };
        for (i, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for c in reference.captures_iter(code) {
                match layer.get(&c[1]) {
                    Some(&to) if to <= own => {}
                    _ => wrong.push(format!("{}:{}: {module} → {}", rel.display(), i + 1, &c[1])),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "references running up the layers:\n{}",
        wrong.join("\n")
    );
}
