//! KV version 2 detection and the path rewriting consul-template applies to reads, writes and
//! lists on a KV v2 mount (agent.md §5.3). The rewriting is pure; detection asks
//! `sys/internal/ui/mounts/<path>` (see `Client::kv_mount`).

/// The mount a path belongs to, as `sys/internal/ui/mounts` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvMount {
    /// With a trailing `/`, e.g. `secret/` (may carry a namespace prefix, e.g. `ns1/secret/`).
    pub path: String,
    /// 1 or 2.
    pub version: u8,
}

/// What an operation does on a KV v2 mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvOp {
    Read,
    Write,
    List,
}

/// The path to use on a KV v2 mount `mount` for `path` (both without leading `/`).
pub fn rewrite_v2(mount: &str, path: &str, op: KvOp) -> String {
    let path = path.trim_start_matches('/');
    let mount = strip_namespace(mount.trim_start_matches('/'), path);
    let mount_noslash = mount.trim_end_matches('/');
    let (insert, keep) = match op {
        KvOp::Read | KvOp::Write => ("data", &["data/", "metadata/", "subkeys/"][..]),
        KvOp::List => ("metadata", &["data/", "metadata/", "subkeys/"][..]),
    };
    if path == mount_noslash || path == mount {
        return format!("{mount_noslash}/{insert}");
    }
    let Some(rest) = path.strip_prefix(&format!("{mount_noslash}/")) else {
        return path.to_string();
    };
    if keep.iter().any(|k| rest.starts_with(k)) {
        path.to_string()
    } else {
        format!("{mount_noslash}/{insert}/{rest}")
    }
}

/// A mount path reported with a namespace prefix (`ns1/secret/`) while the request path is
/// relative to that namespace (`secret/app`): drop leading segments until the mount prefixes the
/// path, so the namespace is not doubled.
fn strip_namespace<'a>(mount: &'a str, path: &str) -> &'a str {
    let mut m = mount;
    loop {
        if path.starts_with(m.trim_end_matches('/')) {
            return m;
        }
        match m.find('/') {
            Some(i) if i + 1 < m.len() => m = &m[i + 1..],
            _ => return mount,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_get_data_inserted() {
        assert_eq!(
            rewrite_v2("secret/", "secret/app", KvOp::Read),
            "secret/data/app"
        );
        assert_eq!(
            rewrite_v2("secret/", "secret/data/app", KvOp::Read),
            "secret/data/app"
        );
        assert_eq!(
            rewrite_v2("secret/", "secret/metadata/app", KvOp::Read),
            "secret/metadata/app"
        );
        assert_eq!(
            rewrite_v2("secret/", "secret/subkeys/app", KvOp::Read),
            "secret/subkeys/app"
        );
        assert_eq!(rewrite_v2("secret/", "secret", KvOp::Read), "secret/data");
        assert_eq!(rewrite_v2("secret/", "secret/", KvOp::Write), "secret/data");
        assert_eq!(rewrite_v2("kv/", "kv/a/b/c", KvOp::Write), "kv/data/a/b/c");
    }

    #[test]
    fn lists_get_metadata_inserted() {
        assert_eq!(
            rewrite_v2("secret/", "secret/", KvOp::List),
            "secret/metadata"
        );
        assert_eq!(
            rewrite_v2("secret/", "secret/app/", KvOp::List),
            "secret/metadata/app/"
        );
        assert_eq!(
            rewrite_v2("secret/", "secret/metadata/app", KvOp::List),
            "secret/metadata/app"
        );
    }

    #[test]
    fn namespace_prefix_of_the_mount_is_not_doubled() {
        assert_eq!(
            rewrite_v2("ns1/secret/", "secret/app", KvOp::Read),
            "secret/data/app"
        );
        assert_eq!(rewrite_v2("a/b/kv/", "kv/x", KvOp::Read), "kv/data/x");
    }
}
