//! The user docs hold together: every relative link in the Markdown files resolves to a file of
//! the repo (and, with a `#fragment`, to a heading of that file, by GitHub's anchor rules), and every
//! Graphviz diagram's SVG was rendered from the current `.dot` (scripts/diagrams stamps the SVG
//! with the source's SHA-256; rendering itself depends on the Graphviz version, so it is not redone).
//!
//! Files checked: `README.md`, `CHANGELOG.md`, `DEVELOPMENT.md`, `bench/README.md`, every `.md`
//! under `docs/` and `deploy/`. Links inside fenced code blocks, inline code and HTML comments are
//! not links. Absolute URLs (`https:`, `mailto:` …) are not fetched.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `.md` files under `dir` (recursively), skipping `target` and hidden directories.
fn markdown_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                markdown_under(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

fn checked_files(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = [
        "README.md",
        "CHANGELOG.md",
        "DEVELOPMENT.md",
        "bench/README.md",
    ]
    .iter()
    .map(|f| root.join(f))
    .filter(|p| p.exists())
    .collect();
    markdown_under(&root.join("docs"), &mut out);
    markdown_under(&root.join("deploy"), &mut out);
    out.sort();
    out
}

/// The text of a Markdown file with fenced code blocks, inline code and HTML comments blanked
/// (line structure kept, so line numbers stay right).
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<&str> = None;
    let mut in_comment = false;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(f) = fence {
            if t.starts_with(f) {
                fence = None;
            }
            out.push('\n');
            continue;
        }
        if t.starts_with("```") || t.starts_with("~~~") {
            fence = Some(if t.starts_with("```") { "```" } else { "~~~" });
            out.push('\n');
            continue;
        }
        let mut rest = line;
        loop {
            if in_comment {
                match rest.find("-->") {
                    Some(i) => {
                        in_comment = false;
                        rest = &rest[i + 3..];
                    }
                    None => break,
                }
            } else {
                let c = rest.find("<!--");
                let b = rest.find('`');
                match (c, b) {
                    (Some(c), b) if b.is_none_or(|b| c < b) => {
                        out.push_str(&rest[..c]);
                        in_comment = true;
                        rest = &rest[c + 4..];
                    }
                    (_, Some(b)) => {
                        out.push_str(&rest[..b]);
                        let ticks = rest[b..].bytes().take_while(|&c| c == b'`').count();
                        let close = "`".repeat(ticks);
                        match rest[b + ticks..].find(&close) {
                            Some(e) => rest = &rest[b + ticks + e + ticks..],
                            None => {
                                rest = "";
                            }
                        }
                    }
                    _ => {
                        out.push_str(rest);
                        break;
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of the inline links and images `[text](target)` and of reference definitions
/// `[label]: target` in prose, with their 1-based line numbers.
fn links(prose: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in prose.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[')
            && let Some(i) = t.find("]: ")
        {
            let target = t[i + 3..].split_whitespace().next().unwrap_or("");
            out.push((n + 1, target.to_string()));
            continue;
        }
        let mut from = 0;
        while let Some(i) = line[from..].find("](") {
            let start = from + i + 2;
            let Some(len) = line[start..].find(')') else {
                break;
            };
            let target = line[start..start + len]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_start_matches('<')
                .trim_end_matches('>');
            out.push((n + 1, target.to_string()));
            from = start + len;
        }
    }
    out
}

/// GitHub's anchor of a heading: the rendered text lower-cased, characters other than letters,
/// digits, spaces, `-` and `_` dropped, spaces turned into `-`.
fn slug(heading: &str) -> String {
    // Rendered text: links keep their text, code spans their content, emphasis markers go.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(i) = rest.find('[') {
        text.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match (after.find("]("), after.find(')')) {
            (Some(close), Some(_)) => {
                text.push_str(&after[..close]);
                let tail = &after[close + 2..];
                rest = tail.find(')').map_or("", |e| &tail[e + 1..]);
            }
            _ => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a Markdown file offers: its headings' slugs (a repeated slug gets `-1`, `-2` …).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut in_fence = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || !t.starts_with('#') {
            continue;
        }
        let body = t.trim_start_matches('#');
        if !body.starts_with(' ') {
            continue;
        }
        let base = slug(body);
        let mut s = base.clone();
        let mut k = 0;
        while seen.contains(&s) {
            k += 1;
            s = format!("{base}-{k}");
        }
        seen.insert(s);
    }
    seen
}

/// Why `target`, linked from `file`, does not resolve (None when it does).
fn broken(root: &Path, file: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("empty link".into());
    }
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, fragment) = match target.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (target, None),
    };
    let resolved = if path.is_empty() {
        file.to_path_buf()
    } else if let Some(abs) = path.strip_prefix('/') {
        root.join(abs)
    } else {
        file.parent().expect("a file has a directory").join(path)
    };
    if !resolved.exists() {
        return Some(format!("{} does not exist", resolved.display()));
    }
    let Ok(canonical) = resolved.canonicalize() else {
        return Some(format!("{} does not resolve", resolved.display()));
    };
    if !canonical.starts_with(root) {
        return Some("points outside the repository".into());
    }
    if let Some(f) = fragment
        && resolved.extension().is_some_and(|e| e == "md")
    {
        let text = std::fs::read_to_string(&resolved).unwrap_or_default();
        if !anchors(&text).contains(f) {
            return Some(format!(
                "{} has no heading with anchor #{f}",
                resolved.display()
            ));
        }
    }
    None
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = repo_root().canonicalize().expect("repo root");
    let mut problems = Vec::new();
    let mut count = 0;
    for file in checked_files(&root) {
        let text = std::fs::read_to_string(&file).expect("readable Markdown");
        for (line, target) in links(&prose(&text)) {
            count += 1;
            if let Some(why) = broken(&root, &file, &target) {
                let rel = file.strip_prefix(&root).unwrap_or(&file);
                problems.push(format!("{}:{line}: ({target}): {why}", rel.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {count} links do not resolve:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The walk really walked: the README and the docs link to each other many times.
    assert!(count > 50, "only {count} links found; is the walk broken?");
}

#[test]
fn every_diagram_svg_was_rendered_from_its_current_source() {
    let dir = repo_root().join("docs/diagrams");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("docs/diagrams exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dot"))
        .collect();
    sources.sort();
    assert!(!sources.is_empty(), "no .dot file in docs/diagrams");
    for src in sources {
        let bytes = std::fs::read(&src).expect("readable .dot");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let svg = src.with_extension("svg");
        let text = std::fs::read_to_string(&svg)
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/diagrams)", svg.display()));
        let name = src.file_name().expect("a file name").to_string_lossy();
        let stamp = format!("<!-- source: {name} sha256:{hex} ");
        assert!(
            text.lines().nth(1).is_some_and(|l| l.starts_with(&stamp)),
            "{} was not rendered from the current {name}: run scripts/diagrams",
            svg.display()
        );
    }
}

/// The pieces on sample text, so that a broken parser cannot pass by finding nothing.
#[test]
fn link_parsing_and_anchors_follow_markdown_and_github() {
    let sample = "See [a](a.md#x) and ![img](d/i.svg).\n\
                  ```sh\n[not](code.md)\n```\n\
                  Inline `[not](code.md)` and <!-- [not](comment.md) --> [b](<b.md>).\n\
                  [ref]: c.md\n";
    let found: Vec<String> = links(&prose(sample)).into_iter().map(|(_, t)| t).collect();
    assert_eq!(found, ["a.md#x", "d/i.svg", "b.md", "c.md"]);
    let lines: Vec<usize> = links(&prose(sample)).into_iter().map(|(n, _)| n).collect();
    assert_eq!(lines, [1, 1, 5, 6]);
    assert_eq!(
        slug(" Agent flavor (`AGENT_INJECT_AGENT_FLAVOR`)"),
        "agent-flavor-agent_inject_agent_flavor"
    );
    assert_eq!(
        slug(" 4. Vault: secret, policy, auth method, role"),
        "4-vault-secret-policy-auth-method-role"
    );
    assert_eq!(slug(" See [the guide](x.md) now"), "see-the-guide-now");
    let a = anchors("# T\n## Same\n```\n## not\n```\n## Same\n");
    assert_eq!(a.into_iter().collect::<Vec<_>>(), ["same", "same-1", "t"]);
}
