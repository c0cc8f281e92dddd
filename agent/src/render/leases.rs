//! The leased answers a template runtime hands over through the persistent cache (agent.md §7.3):
//! which answers are handed over (a renewable lease), how a runner's held leases become cache
//! records and back, and how much of a restored lease is left. Pure: no I/O, the clock is an
//! argument.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use vaultlet_shared::vault::Secret;

use crate::cache::LeaseRecord;
use crate::template::Dependency;

/// A leased answer and when its `lease_duration` was granted (unix seconds: the fetch or the last
/// renewal).
#[derive(Clone, Debug)]
pub struct HeldLease {
    pub secret: Arc<Secret>,
    pub granted_at: i64,
}

impl HeldLease {
    /// The lease left at `now` (unix seconds); `None` once it has run out.
    pub fn remaining(&self, now: i64) -> Option<Duration> {
        let left = self.secret.lease_duration - (now - self.granted_at);
        (left > 0).then(|| Duration::from_secs(left as u64))
    }
}

/// What a runner starts from and, in init mode, what it holds at the end.
#[derive(Debug, Default)]
pub struct Leases {
    /// Restored answers: a dependency found here starts from its answer once one renewal of the
    /// lease succeeds (agent.md §5.5); otherwise it is fetched anew.
    pub seeds: HashMap<Dependency, HeldLease>,
    /// Init mode: the leased answers held when every template had rendered (filled by the runner).
    pub held: Vec<(Dependency, HeldLease)>,
}

/// Whether an answer is handed over: it carries a renewable lease (the answers agent.md §5.4
/// renews rather than re-reads). KV answers and the like are fetched anew by the sidecar.
pub fn handed_over(s: &Secret) -> bool {
    s.renewable && s.lease_duration > 0 && !s.lease_id.is_empty()
}

/// The cache records of `held` (reads and writes only).
pub fn to_records(held: &[(Dependency, HeldLease)]) -> Vec<LeaseRecord> {
    held.iter()
        .filter_map(|(d, l)| {
            let (kind, path, params) = match d {
                Dependency::Read { path } => ("read", path, Vec::new()),
                Dependency::Write { path, params } => ("write", path, params.clone()),
                _ => return None,
            };
            Some(LeaseRecord {
                kind: kind.into(),
                path: path.clone(),
                params,
                response: l.secret.to_json(),
                fetched_at: l.granted_at,
            })
        })
        .collect()
}

/// The seeds in `records`; a record that cannot be read is skipped with a warning.
pub fn from_records(records: &[LeaseRecord]) -> HashMap<Dependency, HeldLease> {
    let mut out = HashMap::new();
    for r in records {
        let dep = match r.kind.as_str() {
            "read" => Dependency::Read {
                path: r.path.clone(),
            },
            "write" => Dependency::Write {
                path: r.path.clone(),
                params: r.params.clone(),
            },
            other => {
                tracing::warn!(target: "template", kind = other, "ignoring a restored lease of an unknown kind");
                continue;
            }
        };
        match Secret::from_json(r.response.as_bytes()) {
            Ok(s) if handed_over(&s) => {
                out.insert(
                    dep,
                    HeldLease {
                        secret: Arc::new(s),
                        granted_at: r.fetched_at,
                    },
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(target: "template", path = %r.path, "ignoring an unreadable restored lease: {e}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(renewable: bool, lease: i64) -> Secret {
        Secret::from_json(
            format!(r#"{{"lease_id":"database/creds/app/x","lease_duration":{lease},"renewable":{renewable},"data":{{"username":"v-app","n":1e3}}}}"#)
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn only_renewable_leases_are_handed_over() {
        assert!(handed_over(&secret(true, 3600)));
        assert!(!handed_over(&secret(false, 3600)));
        assert!(!handed_over(&secret(true, 0)));
        let mut kv = secret(true, 3600);
        kv.lease_id.clear();
        assert!(!handed_over(&kv));
    }

    #[test]
    fn records_round_trip_reads_and_writes() {
        let read = Dependency::Read {
            path: "database/creds/app".into(),
        };
        let write = Dependency::Write {
            path: "aws/sts/x".into(),
            params: vec![("ttl".into(), "1h".into())],
        };
        let list = Dependency::List { path: "kv".into() };
        let l = HeldLease {
            secret: Arc::new(secret(true, 3600)),
            granted_at: 100,
        };
        let held = vec![
            (read.clone(), l.clone()),
            (write.clone(), l.clone()),
            (list, l.clone()),
        ];
        let records = to_records(&held);
        assert_eq!(records.len(), 2, "a list is not a lease");
        let back = from_records(&records);
        assert_eq!(back.len(), 2);
        for d in [read, write] {
            let got = &back[&d];
            assert_eq!(got.secret.data, l.secret.data);
            assert_eq!(got.secret.lease_id, l.secret.lease_id);
            assert_eq!(
                got.secret.to_json(),
                l.secret.to_json(),
                "numbers kept literal"
            );
            assert_eq!(got.granted_at, 100);
        }
    }

    #[test]
    fn unknown_or_unleased_records_are_skipped() {
        let mut r = to_records(&[(
            Dependency::Read { path: "p".into() },
            HeldLease {
                secret: Arc::new(secret(true, 60)),
                granted_at: 0,
            },
        )]);
        r.push(LeaseRecord {
            kind: "list".into(),
            ..r[0].clone()
        });
        r.push(LeaseRecord {
            path: "q".into(),
            response: "not json".into(),
            ..r[0].clone()
        });
        r.push(LeaseRecord {
            path: "kv".into(),
            response: r#"{"data":{"a":"b"}}"#.into(),
            ..r[0].clone()
        });
        let seeds = from_records(&r);
        assert_eq!(seeds.len(), 1);
        assert!(seeds.contains_key(&Dependency::Read { path: "p".into() }));
    }

    #[test]
    fn remaining_counts_from_the_grant() {
        let l = HeldLease {
            secret: Arc::new(secret(true, 3600)),
            granted_at: 1000,
        };
        assert_eq!(l.remaining(1000), Some(Duration::from_secs(3600)));
        assert_eq!(l.remaining(4000), Some(Duration::from_secs(600)));
        assert_eq!(l.remaining(4600), None);
    }
}
