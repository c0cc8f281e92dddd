//! HCL **v1** text to the generic JSON tree that `decode` reads.
//!
//! Approach: a token-aware pre-pass, then `hcl-rs` (an HCL2 parser) on the result. hcl-rs meets
//! HCL1's block/attribute/heredoc/comment syntax, but disagrees on two lexical points that matter
//! for agent configs, and the pre-pass fixes exactly those, skipping strings, comments and heredocs:
//! - integer literals with a leading `0` are octal in HCL1 (`mode = 0600` is 384) and `0x…` is hex;
//!   HCL2 reads `0600` as 600 and has no hex. The pass rewrites them to decimal.
//! - `${` and `%{` inside strings and heredocs are template syntax in HCL2 but plain text in HCL1
//!   (shell commands use `${VAR}`). The pass escapes them (`$${`, `%%{`), which HCL2 unescapes.
//!
//! Known gap (HCL2 grammar): a block body written on one line may hold only one attribute
//! (`config { path = "/t" }` works, `config { path = "/t" mode = 0640 }` does not; an object value
//! `config = { path = "/t", mode = 0640 }` does). Multi-line layout, as every example uses, works.
//!
//! Shape of the output: attributes become keys (a repeated attribute: the last wins); blocks become
//! arrays of objects under their name, each label wrapping the body (`method "kubernetes" {…}` ⇒
//! `"method": [{"kubernetes": {…}}]`), which is the HCL1 JSON dialect `decode` already accepts.

use hcl::eval::{Context, Evaluate};
use hcl::{Body, Structure};
use serde_json::{Map, Value};

use super::error::ConfigError;

/// Parse HCL1 text; `origin` names the file (or `<input>`) in errors.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Value, ConfigError> {
    let pre = preprocess(text).map_err(|message| ConfigError::Syntax {
        origin: origin.to_string(),
        message,
    })?;
    let body = hcl::parse(&pre).map_err(|e| ConfigError::Syntax {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    body_to_value(&body, origin).map(Value::Object)
}

fn body_to_value(body: &Body, origin: &str) -> Result<Map<String, Value>, ConfigError> {
    let ctx = Context::new();
    let mut out = Map::new();
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let v = a.expr().evaluate(&ctx).map_err(|e| ConfigError::Syntax {
                    origin: origin.to_string(),
                    message: format!("{}: {e}", a.key()),
                })?;
                let v = serde_json::to_value(&v).map_err(|e| ConfigError::Syntax {
                    origin: origin.to_string(),
                    message: format!("{}: {e}", a.key()),
                })?;
                out.insert(a.key().to_string(), v);
            }
            Structure::Block(b) => {
                let mut v = Value::Object(body_to_value(b.body(), origin)?);
                for label in b.labels().iter().rev() {
                    let mut m = Map::new();
                    m.insert(label.as_str().to_string(), v);
                    v = Value::Object(m);
                }
                match out.get_mut(b.identifier()) {
                    Some(Value::Array(items)) => items.push(v),
                    _ => {
                        out.insert(b.identifier().to_string(), Value::Array(vec![v]));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The lexical pre-pass described in the module doc.
pub(crate) fn preprocess(src: &str) -> Result<String, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len() + 16);
    let mut i = 0;
    let n = chars.len();
    while i < n {
        let c = chars[i];
        // Comments.
        if c == '#' || (c == '/' && chars.get(i + 1) == Some(&'/')) {
            while i < n && chars[i] != '\n' {
                out.push(chars[i]);
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            out.push_str("/*");
            i += 2;
            while i < n && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                out.push(chars[i]);
                i += 1;
            }
            if i >= n {
                return Err("unterminated /* comment".into());
            }
            out.push_str("*/");
            i += 2;
            continue;
        }
        // Quoted strings.
        if c == '"' {
            out.push('"');
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err("unterminated string".into());
                };
                match d {
                    '\\' => {
                        out.push('\\');
                        if let Some(&e) = chars.get(i + 1) {
                            out.push(e);
                        }
                        i += 2;
                    }
                    '"' => {
                        out.push('"');
                        i += 1;
                        break;
                    }
                    '\n' => return Err("newline in a quoted string".into()),
                    '$' | '%' if chars.get(i + 1) == Some(&'{') => {
                        out.push(d);
                        out.push(d);
                        out.push('{');
                        i += 2;
                    }
                    _ => {
                        out.push(d);
                        i += 1;
                    }
                }
            }
            continue;
        }
        // Heredocs: <<EOT or <<-EOT, then lines up to the marker line.
        if c == '<' && chars.get(i + 1) == Some(&'<') {
            let mut j = i + 2;
            if chars.get(j) == Some(&'-') {
                j += 1;
            }
            let start = j;
            while j < n && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let marker: String = chars[start..j].iter().collect();
            if !marker.is_empty() && chars.get(j) == Some(&'\n') {
                out.extend(&chars[i..=j]);
                i = j + 1;
                loop {
                    if i >= n {
                        return Err(format!("heredoc {marker:?} is not closed"));
                    }
                    let line_end = (i..n).find(|&k| chars[k] == '\n').unwrap_or(n);
                    let line: String = chars[i..line_end].iter().collect();
                    if line.trim() == marker {
                        out.push_str(&line);
                        i = line_end;
                        break;
                    }
                    out.push_str(&line.replace("${", "$${").replace("%{", "%%{"));
                    if line_end < n {
                        out.push('\n');
                    }
                    i = line_end + 1;
                }
                continue;
            }
        }
        // Numbers that start a token.
        if c.is_ascii_digit() && !prev_is_ident(&chars, i) {
            let mut j = i;
            while j < n && (chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '_')
            {
                // Stop at an exponent sign handled below; letters cover hex digits and 'e'.
                j += 1;
            }
            // Exponent with sign (1e-3).
            while j < n
                && (chars[j] == '-' || chars[j] == '+')
                && matches!(chars.get(j - 1), Some('e' | 'E'))
                && !chars[i..j].iter().any(|c| *c == 'x' || *c == 'X')
            {
                j += 1;
                while j < n && chars[j].is_ascii_digit() {
                    j += 1;
                }
            }
            let tok: String = chars[i..j].iter().collect();
            out.push_str(&rewrite_number(&tok)?);
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    let Some(k) = i.checked_sub(1) else {
        return false;
    };
    let p = chars[k];
    if p.is_alphanumeric() || p == '_' || p == '.' {
        return true;
    }
    if p == '-' {
        // `foo-1` is an identifier; `-1` after `=`/space/`[`/`,` is a negative number.
        return k
            .checked_sub(1)
            .is_some_and(|m| chars[m].is_alphanumeric() || chars[m] == '_');
    }
    false
}

/// `0600` ⇒ `384`, `0x1F` ⇒ `31`; anything else unchanged.
fn rewrite_number(tok: &str) -> Result<String, String> {
    let lower = tok.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16)
            .map(|v| v.to_string())
            .map_err(|_| format!("invalid hex number {tok:?}"));
    }
    if tok.len() > 1 && tok.starts_with('0') && tok.bytes().all(|b| b.is_ascii_digit()) {
        return i64::from_str_radix(&tok[1..], 8)
            .map(|v| v.to_string())
            .map_err(|_| format!("invalid octal number {tok:?}"));
    }
    Ok(tok.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn octal_and_hex_outside_strings() {
        let p =
            preprocess("mode = 0600\nx = 0x1F\ny = \"0600\" # 0700\nz = 1.05\nw = 0\n").unwrap();
        assert_eq!(
            p,
            "mode = 384\nx = 31\ny = \"0600\" # 0700\nz = 1.05\nw = 0\n"
        );
    }

    #[test]
    fn identifiers_and_negatives() {
        assert_eq!(preprocess("a-0600 = 1").unwrap(), "a-0600 = 1");
        assert_eq!(preprocess("a = -010").unwrap(), "a = -8");
        assert_eq!(preprocess("sha256 = 1e-3").unwrap(), "sha256 = 1e-3");
    }

    #[test]
    fn invalid_octal_is_an_error() {
        assert!(preprocess("mode = 0800").is_err());
    }

    #[test]
    fn escapes_interpolation() {
        assert_eq!(
            preprocess("c = \"echo ${HOME} %{x}\"").unwrap(),
            "c = \"echo $${HOME} %%{x}\""
        );
        let v = parse("c = \"echo ${HOME} \\\"q\\\"\"\n", "t").unwrap();
        assert_eq!(v, json!({"c": "echo ${HOME} \"q\""}));
    }

    #[test]
    fn heredocs() {
        let v = parse("c = <<EOT\n{{ with secret \"a\" }}${X} 0600\nEOT\n", "t").unwrap();
        assert_eq!(v, json!({"c": "{{ with secret \"a\" }}${X} 0600\n"}));
        let v = parse("c = <<-EOT\n    a\n    b\n    EOT\n", "t").unwrap();
        assert_eq!(v, json!({"c": "a\nb\n"}));
    }

    #[test]
    fn blocks_and_labels() {
        let v = parse(
            "auto_auth {\n method \"kubernetes\" {\n  config = { role = \"x\" }\n }\n sink \"file\" {\n  config {\n   path = \"/t\"\n   mode = 0640\n  }\n }\n}\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"auto_auth": [{"method": [{"kubernetes": {"config": {"role": "x"}}}],
                "sink": [{"file": {"config": [{"path": "/t", "mode": 416}]}}]}]})
        );
    }

    #[test]
    fn comments() {
        let v = parse("// a\n# b\n/* c\n 0600 */ a = 1\n", "t").unwrap();
        assert_eq!(v, json!({"a": 1}));
    }
}
