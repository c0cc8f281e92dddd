//! KV version 2 detection and the path rewriting consul-template applies to reads, writes and
//! lists on a KV v2 mount (agent.md §5.3). The rewriting is pure; detection asks
//! `sys/internal/ui/mounts/<path>` (see `Client::kv_mount`), whose answers [`MountCache`] keeps.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The mount a path belongs to, as `sys/internal/ui/mounts` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvMount {
    /// With a trailing `/`, e.g. `secret/` (may carry a namespace prefix, e.g. `ns1/secret/`).
    pub path: String,
    /// 1 or 2.
    pub version: u8,
}

/// The answers of `sys/internal/ui/mounts/<path>`, kept for a TTL (agent.md §5.3). An answer that
/// names the mount the path lives on (`path`, a prefix of the asked path) stands for every path
/// under that mount in the same namespace: Vault and OpenBao refuse a mount inside another mount,
/// a mount above one, and a namespace where a mount is, so no path under a mount can live
/// anywhere else. Any other answer (no mount: 404; a mount path that does not prefix the asked
/// path, e.g. reported with its namespace) stands for the asked path alone. Pure: the caller
/// passes the time.
#[derive(Debug, Default)]
pub struct MountCache {
    /// By `namespace \0 path` (the mount's path without its trailing `/` for a whole mount).
    entries: HashMap<String, MountEntry>,
}

#[derive(Debug)]
struct MountEntry {
    at: Instant,
    /// The entry is a mount and stands for the paths under it too.
    whole_mount: bool,
    kv: Option<KvMount>,
}

fn cache_key(namespace: &str, path: &str) -> String {
    format!("{namespace}\0{path}")
}

impl MountCache {
    /// The kept answer for `path` (no leading or trailing `/`) in `namespace`, when one younger
    /// than `ttl` at `now` covers it: `Some(None)` is a kept "not on a KV mount".
    pub fn get(
        &self,
        namespace: &str,
        path: &str,
        now: Instant,
        ttl: Duration,
    ) -> Option<Option<KvMount>> {
        let fresh = |e: &MountEntry| now.saturating_duration_since(e.at) < ttl;
        if let Some(e) = self.entries.get(&cache_key(namespace, path))
            && fresh(e)
        {
            return Some(e.kv.clone());
        }
        path.match_indices('/').find_map(|(i, _)| {
            let e = self.entries.get(&cache_key(namespace, &path[..i]))?;
            (e.whole_mount && fresh(e)).then(|| e.kv.clone())
        })
    }

    /// Keeps the server's answer for `path`: `mount`, the `path` the answer reported (any mount
    /// type), and what it means for KV.
    pub fn put(
        &mut self,
        namespace: &str,
        path: &str,
        mount: Option<&str>,
        kv: Option<KvMount>,
        now: Instant,
    ) {
        let mount = mount.map(|m| m.trim_matches('/')).filter(|m| {
            !m.is_empty()
                && (path == *m || path.strip_prefix(*m).is_some_and(|r| r.starts_with('/')))
        });
        let (key, whole_mount) = match mount {
            Some(m) => (cache_key(namespace, m), true),
            None => (cache_key(namespace, path), false),
        };
        self.entries.insert(
            key,
            MountEntry {
                at: now,
                whole_mount,
                kv,
            },
        );
    }
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

    fn v2(path: &str) -> Option<KvMount> {
        Some(KvMount {
            path: path.into(),
            version: 2,
        })
    }

    #[test]
    fn one_answer_covers_every_path_of_its_mount_in_its_namespace() {
        let (t0, ttl) = (Instant::now(), Duration::from_secs(300));
        let mut c = MountCache::default();
        assert_eq!(c.get("", "secret/data/app/env", t0, ttl), None);
        c.put(
            "",
            "secret/data/app/env",
            Some("secret/"),
            v2("secret/"),
            t0,
        );
        for p in [
            "secret/data/app/env",
            "secret/data/db",
            "secret",
            "secret/x",
        ] {
            assert_eq!(c.get("", p, t0, ttl), Some(v2("secret/")), "{p}");
        }
        assert_eq!(
            c.get("", "secretive/x", t0, ttl),
            None,
            "not a prefix by segment"
        );
        assert_eq!(c.get("", "kv1/x", t0, ttl), None);
        assert_eq!(
            c.get("team1", "secret/x", t0, ttl),
            None,
            "another namespace"
        );
        // A mount of another type is kept as "not KV" for its paths.
        c.put("", "pki/cert/ca", Some("pki/"), None, t0);
        assert_eq!(c.get("", "pki/issue/r", t0, ttl), Some(None));
        // Nested mounts: team/a/ does not stand for team/b/…
        c.put("", "team/a/x", Some("team/a/"), v2("team/a/"), t0);
        assert_eq!(c.get("", "team/a/y/z", t0, ttl), Some(v2("team/a/")));
        assert_eq!(c.get("", "team/b/y", t0, ttl), None);
    }

    #[test]
    fn other_answers_stand_for_their_path_alone_and_all_expire() {
        let (t0, ttl) = (Instant::now(), Duration::from_secs(300));
        let mut c = MountCache::default();
        // No mount (404).
        c.put("", "nowhere/a", None, None, t0);
        assert_eq!(c.get("", "nowhere/a", t0, ttl), Some(None));
        assert_eq!(c.get("", "nowhere/a/b", t0, ttl), None);
        assert_eq!(c.get("", "nowhere/b", t0, ttl), None);
        // A mount reported with its namespace does not prefix the path asked in that namespace.
        c.put("team1", "kv/app", Some("team1/kv/"), v2("team1/kv/"), t0);
        assert_eq!(c.get("team1", "kv/app", t0, ttl), Some(v2("team1/kv/")));
        assert_eq!(c.get("team1", "kv/other", t0, ttl), None);
        // Expiry.
        c.put("", "secret/a", Some("secret/"), v2("secret/"), t0);
        let later = t0 + ttl;
        assert_eq!(c.get("", "secret/b", later, ttl), None);
        assert_eq!(c.get("", "nowhere/a", later, ttl), None);
    }
}
