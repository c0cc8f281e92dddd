//! The driver of the property-based tests (docs/reliability.md, "Hostile input"): runs a
//! `proptest` strategy against a property with a fixed budget, catches panics as failures (so the
//! input is shrunk and printed), and fails any case slower than a time bound.
//!
//! proptest is built without its `std` feature: that feature turns on every Unicode table of
//! `regex-syntax`, which cargo would then unify into the template engine's `regex` and change
//! which patterns templates accept. Without it proptest reads no environment and catches no
//! panics, so this module does both:
//!
//! - `PROPTEST_CASES`: cases per property (default: the property's own, a few seconds' worth);
//!   `scripts/proptest-long` sets 100000.
//! - `PROPTEST_SEED`: a `u64` seeding the generator (default 0: every run draws the same cases).
//!
//! Each file that uses it: `use vaultlet_tests::property::check;` (the template crate, which
//! vaultlet-tests depends on through the agent, includes this file by path instead).

// The test driver's own knobs (PROPTEST_CASES, PROPTEST_SEED), not product configuration.
#![allow(clippy::disallowed_methods)]

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use proptest::prelude::{BoxedStrategy, Strategy, any, prop_oneof};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Longest one case may take (debug build, shared machine): a parser or decoder that needs more
/// for one small input is the "hangs on hostile input" bug these tests look for.
pub const CASE_TIME_LIMIT: Duration = Duration::from_secs(5);

/// The number of cases to run: `PROPTEST_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Runs `property` on `default_cases` inputs drawn from `strategy` (see the module doc for the
/// environment); panics with the shrunk failing input when a case fails, panics or is too slow.
pub fn check<S>(
    name: &str,
    default_cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let seed: u64 = std::env::var("PROPTEST_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: cases(default_cases),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let result = runner.run(&strategy, |input| {
        let t0 = Instant::now();
        let r = match catch_unwind(AssertUnwindSafe(|| property(input))) {
            Ok(r) => r,
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("(not a string)");
                Err(TestCaseError::fail(format!("panicked: {msg}")))
            }
        };
        let took = t0.elapsed();
        if r.is_ok() && took > CASE_TIME_LIMIT {
            return Err(TestCaseError::fail(format!(
                "took {took:?} (limit {CASE_TIME_LIMIT:?})"
            )));
        }
        r
    });
    if let Err(e) = result {
        panic!("property {name} (seed {seed}): {e}");
    }
}

/// One change to a JSON document: at the `at`-th node (modulo their number), replace it, remove
/// it, or add `key` to it (an object) with a value.
#[derive(Debug, Clone)]
pub enum Mutation {
    Replace(usize, serde_json::Value),
    Remove(usize),
    Insert(usize, String, serde_json::Value),
}

fn mutation(
    value: BoxedStrategy<serde_json::Value>,
    key: BoxedStrategy<String>,
) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), value.clone()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        any::<usize>().prop_map(Mutation::Remove),
        (any::<usize>(), key, value).prop_map(|(i, k, v)| Mutation::Insert(i, k, v)),
    ]
}

/// JSON pointers of every node below the root.
fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    let children: Vec<(String, &serde_json::Value)> = match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, c)| (k.replace('~', "~0").replace('/', "~1"), c))
            .collect(),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), c))
            .collect(),
        _ => vec![],
    };
    for (k, c) in children {
        let p = format!("{at}/{k}");
        out.push(p.clone());
        pointers(c, p, out);
    }
}

pub fn mutate(doc: &mut serde_json::Value, m: &Mutation) {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    if all.is_empty() {
        return;
    }
    let pick = |i: usize| all[i % all.len()].clone();
    match m {
        Mutation::Replace(i, v) => {
            if let Some(n) = doc.pointer_mut(&pick(*i)) {
                *n = v.clone();
            }
        }
        Mutation::Remove(i) => {
            let p = pick(*i);
            let (parent, last) = p.rsplit_once('/').unwrap();
            match doc.pointer_mut(parent) {
                Some(serde_json::Value::Object(o)) => {
                    o.remove(&last.replace("~1", "/").replace("~0", "~"));
                }
                Some(serde_json::Value::Array(a)) => {
                    if let Ok(k) = last.parse::<usize>()
                        && k < a.len()
                    {
                        a.remove(k);
                    }
                }
                _ => {}
            }
        }
        Mutation::Insert(i, k, v) => {
            if let Some(serde_json::Value::Object(o)) = doc.pointer_mut(&pick(*i)) {
                o.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `base` changed by zero to three [`Mutation`]s, with values from `value` and new keys from `key`.
pub fn mutated(
    base: serde_json::Value,
    value: impl Strategy<Value = serde_json::Value> + 'static,
    key: impl Strategy<Value = String> + 'static,
) -> impl Strategy<Value = serde_json::Value> {
    let (value, key) = (value.boxed(), key.boxed());
    proptest::collection::vec(mutation(value, key), 0..4).prop_map(move |ms| {
        let mut doc = base.clone();
        for m in &ms {
            mutate(&mut doc, m);
        }
        doc
    })
}
