//! Every `§` citation in the repo resolves to a section or a label of the design docs
//! (`docs/design/agent.md`, `docs/design/injector.md`); see `docs/design/README.md`.
//!
//! Where: every `.rs` file of the repo, and every `.md` file under `docs/` and `tests/conformance/`.
//! Directories named `target` and hidden directories (`.git`, `.venv`) are skipped.
//!
//! Rules (the same text is in `docs/design/README.md`):
//! - A citation is a `§` (or `§§`) directly followed by a digit; any other `§` is prose.
//! - It names its doc: `agent.md` or `injector.md` right before the `§` (a space between is allowed,
//!   a path or a `[` before the name too: `docs/design/agent.md §5.4`, `[injector.md §2.3](…)`).
//! - A citation without a name takes the doc of the previous citation **on the same line**, so lists
//!   read naturally: `agent.md §1.9, §7.1`, `injector.md §6.4–6.5 with §0's Lease`. Inside the design
//!   docs themselves, an unnamed citation means the doc it is in. Anywhere else it is an error.
//! - The section: `N`, `N.M`, `N.M.K` (a numbered heading), or a label with a letter, `3.1a`, or a
//!   `0.1`-style item (a bold `**3.1a**` / `**0.1**` at the start of a line or list item). A range
//!   `agent.md §1.4–1.11` (en dash or hyphen) needs both ends. `§§` takes a list:
//!   `agent.md §§3.1, 3.2`, `agent.md §§5–6`.
//! - A qualifier right after one section is checked too: `step N`, `steps N–M`, `item N`, `rule N–M`
//!   (and their plurals) and `(N)` name numbered list items (`N. ` at the start of a line) inside that
//!   section. Other words after a citation are prose.
//! - Quirk ids anywhere in those files are checked as labels: `Q-A1`, `Q-T13`, … in agent.md's quirk
//!   register, `Q1` … `Q19` in injector.md's (the first cell of a register table row).
//!
//! On failure the test lists `file:line: citation: why` for every citation that does not resolve.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// One of the two design docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Doc {
    Agent,
    Injector,
}

impl Doc {
    fn file(self) -> &'static str {
        match self {
            Doc::Agent => "agent.md",
            Doc::Injector => "injector.md",
        }
    }
}

impl fmt::Display for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file())
    }
}

/// What a design doc offers to cite: numbered headings, bold labels, quirk ids, numbered list items
/// per section.
#[derive(Default, Debug)]
struct Index {
    anchors: BTreeSet<String>,
    items: BTreeMap<String, BTreeSet<u32>>,
}

/// `N(.M)*` followed by an optional lower-case letter (not followed by another letter or digit).
/// Returns the label and the number of bytes it spans.
fn section_at(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    loop {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
        } else {
            break;
        }
    }
    if i < b.len()
        && b[i].is_ascii_lowercase()
        && b.get(i + 1).is_none_or(|c| !c.is_ascii_alphanumeric())
    {
        i += 1;
    }
    Some((s[..i].to_string(), i))
}

/// A quirk id at the start of `s` (`Q12`, `Q-T13`), not followed by a letter or digit.
fn quirk_at(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'Q') {
        return None;
    }
    let mut i = 1;
    if b.get(1) == Some(&b'-') && b.get(2).is_some_and(u8::is_ascii_uppercase) {
        i = 3;
    }
    let digits = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == digits || b.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((s[..i].to_string(), i))
}

/// The doc a quirk id belongs to, by its form.
fn quirk_doc(id: &str) -> Doc {
    if id.starts_with("Q-") {
        Doc::Agent
    } else {
        Doc::Injector
    }
}

impl Index {
    fn parse(text: &str) -> Index {
        let mut index = Index::default();
        let mut current = String::new();
        for line in text.lines() {
            let t = line.trim_start();
            if let Some(rest) = t.strip_prefix('#') {
                let rest = rest.trim_start_matches('#');
                if rest.starts_with(' ')
                    && let Some((label, _)) = section_at(rest.trim_start())
                {
                    index.anchors.insert(label.clone());
                    current = label;
                }
                continue;
            }
            if let Some(row) = t.strip_prefix('|') {
                let cell = row.split('|').next().unwrap_or("").trim();
                if let Some((id, n)) = quirk_at(cell)
                    && n == cell.len()
                {
                    index.anchors.insert(id);
                }
                continue;
            }
            // A list marker, then maybe a bold label.
            let mut body = t;
            if let Some(r) = body.strip_prefix("- ").or_else(|| body.strip_prefix("* ")) {
                body = r;
            } else if let Some((n, len)) = number_item(body) {
                index.items.entry(current.clone()).or_default().insert(n);
                body = &body[len..];
            }
            if let Some(r) = body.strip_prefix("**")
                && let Some(end) = r.find("**")
            {
                let label = &r[..end];
                let whole = |p: Option<(String, usize)>| p.filter(|(_, n)| *n == label.len());
                if let Some((l, _)) = whole(section_at(label)).or(whole(quirk_at(label))) {
                    index.anchors.insert(l);
                }
            }
        }
        index
    }
}

/// `N. ` at the start of `s`: the number and the length up to the text.
fn number_item(s: &str) -> Option<(u32, usize)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || !s[digits..].starts_with(". ") {
        return None;
    }
    Some((s[..digits].parse().ok()?, digits + 2))
}

/// One citation as written, with what it points at.
#[derive(Debug, PartialEq)]
struct Citation {
    /// The text from the `§` to the end of what was parsed.
    text: String,
    /// `None`: no doc named, none on the line before it, not inside a design doc.
    doc: Option<Doc>,
    /// Sections or labels it needs.
    targets: Vec<String>,
    /// Numbered items it needs inside its single target.
    items: Vec<u32>,
}

/// Numbers after a qualifier: `4`, `4–6`, `4-6`, `(3)`.
fn numbers_at(s: &str) -> Option<(Vec<u32>, usize)> {
    let first = s.bytes().take_while(u8::is_ascii_digit).count();
    let a: u32 = s[..first].parse().ok()?;
    let rest = &s[first..];
    for dash in ["–", "-"] {
        if let Some(r) = rest.strip_prefix(dash) {
            let second = r.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(b) = r[..second].parse::<u32>() {
                return Some(((a.min(b)..=a.max(b)).collect(), first + dash.len() + second));
            }
        }
    }
    Some((vec![a], first))
}

/// A qualifier right after a section: ` step 1`, ` steps 4–6`, ` item 6`, ` rule 1–3`, ` (3)`.
fn qualifier_at(s: &str) -> Option<(Vec<u32>, usize)> {
    if let Some(r) = s.strip_prefix(" (") {
        let (n, len) = numbers_at(r)?;
        return r[len..].starts_with(')').then_some((n, len + 3));
    }
    for word in [
        " steps ", " step ", " items ", " item ", " rules ", " rule ",
    ] {
        if let Some(r) = s.strip_prefix(word) {
            let (n, len) = numbers_at(r)?;
            return Some((n, word.len() + len));
        }
    }
    None
}

/// The citations of one line. `home` is the doc a bare citation means in this file (the design docs
/// themselves), if any.
fn extract(line: &str, home: Option<Doc>) -> Vec<Citation> {
    let mut out = Vec::new();
    let mut on_line: Option<Doc> = None;
    let mut from = 0;
    while let Some(p) = line[from..].find('§') {
        let start = from + p;
        let mut i = start + '§'.len_utf8();
        let double = line[i..].starts_with('§');
        if double {
            i += '§'.len_utf8();
        }
        let Some((first, len)) = section_at(&line[i..]) else {
            from = i;
            continue;
        };
        i += len;
        let mut targets = vec![first];
        // A range, or (after `§§`) a list.
        loop {
            let rest = &line[i..];
            let sep = ["–", "-"]
                .into_iter()
                .chain(if double { vec![", ", " and "] } else { vec![] })
                .find(|sep| {
                    rest.strip_prefix(sep)
                        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
                });
            let Some(sep) = sep else { break };
            let Some((next, len)) = section_at(&rest[sep.len()..]) else {
                break;
            };
            targets.push(next);
            i += sep.len() + len;
            if !double {
                break;
            }
        }
        let mut items = Vec::new();
        if targets.len() == 1
            && let Some((n, len)) = qualifier_at(&line[i..])
        {
            items = n;
            i += len;
        }
        let before = line[..start].trim_end();
        let named = if before.ends_with("injector.md") {
            Some(Doc::Injector)
        } else if before.ends_with("agent.md") {
            Some(Doc::Agent)
        } else {
            None
        };
        let doc = named.or(on_line).or(home);
        if named.is_some() || on_line.is_some() {
            on_line = doc;
        }
        out.push(Citation {
            text: line[start..i].to_string(),
            doc,
            targets,
            items,
        });
        from = i;
    }
    out
}

/// Quirk ids on a line (not inside a longer word).
fn quirks(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices('Q') {
        let prev = line[..i].chars().next_back();
        if prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
            continue;
        }
        if let Some((id, _)) = quirk_at(&line[i..]) {
            out.push(id);
        }
    }
    out
}

/// Why a citation does not resolve, if it does not.
fn check(c: &Citation, docs: &BTreeMap<Doc, Index>) -> Option<String> {
    let Some(doc) = c.doc else {
        return Some("names no doc (write `agent.md §…` or `injector.md §…`)".into());
    };
    let index = &docs[&doc];
    for t in &c.targets {
        if !index.anchors.contains(t) {
            return Some(format!("{doc} has no section or label {t}"));
        }
    }
    let have = index.items.get(&c.targets[0]);
    for n in &c.items {
        if !have.is_some_and(|h| h.contains(n)) {
            return Some(format!("{doc} §{} has no numbered item {n}", c.targets[0]));
        }
    }
    None
}

/// Problems on one line of a file.
fn line_problems(
    line: &str,
    home: Option<Doc>,
    docs: &BTreeMap<Doc, Index>,
    count: &mut usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for c in extract(line, home) {
        *count += 1;
        if let Some(why) = check(&c, docs) {
            out.push(format!("{}: {why}", c.text));
        }
    }
    for id in quirks(line) {
        *count += 1;
        let doc = quirk_doc(&id);
        if !docs[&doc].anchors.contains(&id) {
            out.push(format!("{id}: {doc}'s quirk register has no {id}"));
        }
    }
    out
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The files the rules apply to, relative to the repo root, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    walk(root, &path, out);
                }
                continue;
            }
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            let md_place = rel.starts_with("docs") || rel.starts_with("tests/conformance");
            if name.ends_with(".rs") || (name.ends_with(".md") && md_place) {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn design_docs(root: &Path) -> BTreeMap<Doc, Index> {
    [Doc::Agent, Doc::Injector]
        .into_iter()
        .map(|d| {
            let p = root.join("docs/design").join(d.file());
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (d, Index::parse(&text))
        })
        .collect()
}

#[test]
fn every_citation_resolves_in_docs_design() {
    let root = repo_root();
    let docs = design_docs(&root);
    let mut problems = Vec::new();
    let mut count = 0;
    for rel in files(&root) {
        let home = [Doc::Agent, Doc::Injector]
            .into_iter()
            .find(|d| rel == Path::new("docs/design").join(d.file()));
        let Ok(text) = std::fs::read_to_string(root.join(&rel)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for p in line_problems(line, home, &docs, &mut count) {
                problems.push(format!("{}:{}: {p}", rel.display(), n + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {count} citations do not resolve (rules: docs/design/README.md):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The walk really walked: the code cites the docs a couple of hundred times.
    assert!(
        count > 150,
        "only {count} citations found; is the walk broken?"
    );
}

/// The extractor and the checker on sample lines, against a small sample doc.
#[test]
fn extractor_accepts_the_forms_in_use_and_rejects_bad_ones() {
    let sample_agent = "\
## 0. Decisions
- **0.1** Output is the product.
## 3. Auto-auth
### 3.1 The loop
1. Build the method.
2. Loop:
   - **3.1a** preloaded token
3. Rotated files.
### 3.2 Methods
## 10. Quirks
| Id | What |
|---|---|
| Q-T13 | math |
";
    let sample_injector = "\
## 0. Decisions
## 2. Admission
### 2.3 Pipeline
1. Decode.
2. Skip.
3. Namespaces.
4. Defaulting.
#### 2.3.1 Deeper
## 8. Quirks
| Q10 | threshold |
";
    let docs: BTreeMap<Doc, Index> = [
        (Doc::Agent, Index::parse(sample_agent)),
        (Doc::Injector, Index::parse(sample_injector)),
    ]
    .into_iter()
    .collect();
    let problems = |line: &str, home: Option<Doc>| {
        let mut n = 0;
        line_problems(line, home, &docs, &mut n)
    };
    // `\u{a7}` is the section sign, so this file holds no citation of its own.
    let good = [
        "/// (agent.md \u{a7}3.1a), agent.md \u{a7}3.1 step 1, agent.md \u{a7}0.1",
        "//! (agent.md \u{a7}3.1, \u{a7}3.2) and agent.md \u{a7}\u{a7}3.1, 3.2 and \u{a7}3.1–3.2.",
        "// injector.md \u{a7}2.3 steps 2–4, \u{a7}2.3.1, \u{a7}0's ... (\u{a7}2.3 (3))",
        "// [injector.md \u{a7}2.3](docs/design/injector.md) quirk Q-T13, Quirk Q10",
        "// not citations: \u{a7} alone, \u{a7}N.M, QQ1, ABQ-T1",
    ];
    for line in good {
        assert_eq!(problems(line, None), Vec::<String>::new(), "{line}");
    }
    let c = extract("(agent.md \u{a7}1.4–1.11, \u{a7}3.1 step 1)", None);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].targets, ["1.4", "1.11"]);
    assert_eq!(
        (c[1].doc, c[1].text.as_str(), c[1].items.as_slice()),
        (Some(Doc::Agent), "\u{a7}3.1 step 1", &[1][..])
    );
    // A bare citation is fine inside a design doc, not elsewhere.
    assert!(problems("see \u{a7}3.1", Some(Doc::Agent)).is_empty());
    let bad = [
        ("// retries (\u{a7}3.2)", "names no doc"),
        ("// agent.md \u{a7}3.9", "has no section or label 3.9"),
        ("// agent.md \u{a7}3.1b", "has no section or label 3.1b"),
        ("// agent.md \u{a7}3.1–3.7", "has no section or label 3.7"),
        (
            "// injector.md \u{a7}2.3 steps 4–6",
            "has no numbered item 5",
        ),
        ("// injector.md \u{a7}2.3 (9)", "has no numbered item 9"),
        (
            "// agent.md \u{a7}\u{a7}3.1, 4.1",
            "has no section or label 4.1",
        ),
        (
            "// (agent.md \u{a7}3.1) quirk \x51-A9",
            "quirk register has no",
        ),
        ("// (Quirk Q4)", "no Q4"),
        (
            "// injector.md \u{a7}3.1",
            "injector.md has no section or label 3.1",
        ),
    ];
    for (line, why) in bad {
        let p = problems(line, None);
        assert!(
            p.len() == 1 && p[0].contains(why),
            "{line}: expected one problem with {why:?}, got {p:?}"
        );
    }
}
