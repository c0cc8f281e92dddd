//! `render --namespace-file`: the Namespace objects of a file (YAML or JSON, several documents, or
//! a `List`/`NamespaceList`) as the namespace defaults the server would read from its reflector
//! (injector.md §2.7). Pure: the caller reads the file.

use std::collections::BTreeMap;

use serde_json::Value;
use vaultlet_shared::annotations::Annotations;

use super::format::{self, FormatError};
use crate::mutate::NamespaceDefaults;

/// A namespace file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceFileError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("document {0}: not a Namespace (kind {1:?})")]
    NotANamespace(usize, String),
    #[error("document {0}: a Namespace without metadata.name")]
    NoName(usize),
}

/// The namespaces of the file, by name.
#[derive(Debug, Default, Clone)]
pub struct NamespaceFile {
    annotations: BTreeMap<String, Annotations>,
}

impl NamespaceFile {
    /// Reads the Namespaces of `input`.
    pub fn parse(input: &str) -> Result<Self, NamespaceFileError> {
        let mut out = Self::default();
        let docs = format::documents(input, format::detect(input))?;
        for (i, doc) in docs.into_iter().enumerate() {
            let kind = doc["kind"].as_str().unwrap_or_default();
            let items = match kind {
                "Namespace" => vec![doc.clone()],
                "List" | "NamespaceList" => doc["items"].as_array().cloned().unwrap_or_default(),
                other => return Err(NamespaceFileError::NotANamespace(i + 1, other.into())),
            };
            for ns in items {
                let kind = ns["kind"].as_str().unwrap_or("Namespace");
                if kind != "Namespace" {
                    return Err(NamespaceFileError::NotANamespace(i + 1, kind.into()));
                }
                let Some(name) = ns.pointer("/metadata/name").and_then(Value::as_str) else {
                    return Err(NamespaceFileError::NoName(i + 1));
                };
                let pairs: Vec<(&str, &str)> = ns
                    .pointer("/metadata/annotations")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                    .collect();
                out.annotations
                    .insert(name.to_owned(), Annotations::from_pairs(pairs));
            }
        }
        Ok(out)
    }
}

impl NamespaceDefaults for NamespaceFile {
    fn annotations(&self, namespace: &str) -> Option<Annotations> {
        self.annotations.get(namespace).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_by_name_and_anything_else_refused() {
        let f = NamespaceFile::parse(
            "kind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    vault.hashicorp.com/role: shop\n    team: a\n---\napiVersion: v1\nkind: List\nitems:\n- kind: Namespace\n  metadata:\n    name: bare\n",
        )
        .unwrap();
        let shop = f.annotations("shop").unwrap();
        assert_eq!(shop.iter().collect::<Vec<_>>(), [("role", "shop")]);
        assert!(f.annotations("bare").unwrap().iter().next().is_none());
        assert!(f.annotations("other").is_none());
        let e = NamespaceFile::parse("kind: Pod\nmetadata:\n  name: p\n").unwrap_err();
        assert_eq!(e.to_string(), "document 1: not a Namespace (kind \"Pod\")");
        let e = NamespaceFile::parse("kind: Namespace\nmetadata: {}\n").unwrap_err();
        assert!(matches!(e, NamespaceFileError::NoName(1)), "{e}");
    }
}
