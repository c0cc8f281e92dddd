//! Times the pure `/mutate` handler (`admission::review`) on the webhook floor's Consul-server
//! AdmissionReview (`bench/webhook-floor/gen-body.py`, copied beside this file), so the handler's
//! share of a request can be compared with the floor's `--selftest` in the same batch:
//!
//!     cargo bench -p vaultlet-injector --bench review
//!     bench/webhook-floor/target/release/webhook-floor --selftest injector/benches/floor-body.review.json 20000 full
//!
//! Plain `std::time` rounds (no criterion): the numbers are read side by side with the floor's,
//! which reports the same way.

use std::time::Instant;

// The allocator the injector ships with (src/main.rs), so the numbers are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use vaultlet_injector::admission::review;
use vaultlet_shared::annotations::InjectorDefaults;

fn main() {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/floor-body.review.json"
    ))
    .expect("bench body");
    let settings = InjectorDefaults {
        vault_address: "https://vault.vault.svc:8200".into(),
        ..InjectorDefaults::default()
    };
    #[allow(clippy::disallowed_methods)] // the bench's own knob
    let n: u32 = std::env::var("REVIEW_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let out = review(&body, &settings).expect("review");
    assert!(
        out.windows(9).any(|w| w == b"JSONPatch"),
        "no patch in the answer"
    );
    for round in 0..3 {
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes += std::hint::black_box(review(std::hint::black_box(&body), &settings))
                .expect("review")
                .len();
        }
        let el = t.elapsed();
        println!(
            "review round {round}: {n} reviews in {:.3} s = {:.1} us/review ({} bytes out)",
            el.as_secs_f64(),
            el.as_secs_f64() * 1e6 / f64::from(n),
            bytes / n as usize
        );
    }
}
