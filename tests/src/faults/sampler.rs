//! Watches rendered files while a fault scenario runs: every 50 ms it reads each file and checks
//! that the content is one of the complete values the file may legitimately hold at that point
//! (the scenario adds a value before it can appear). A missing file, an empty one, or any other
//! content (a partial write, a blanked template) is a violation.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often every file is read.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(50);

/// At most this many violations are kept verbatim (all are counted).
const KEEP: usize = 20;

struct Watched {
    path: PathBuf,
    allowed: Mutex<Vec<String>>,
    /// An absent file is fine (an init run stopped before writing it).
    may_be_absent: AtomicBool,
}

#[derive(Default)]
struct Tally {
    samples: u64,
    violations: u64,
    kept: Vec<String>,
}

/// What the sampler saw.
#[derive(Debug, Default)]
pub struct Samples {
    /// Reads made (files × rounds).
    pub samples: u64,
    /// Reads that found a missing, empty or unexpected content.
    pub violations: u64,
    /// The first violations, described without their content (lengths only).
    pub first: Vec<String>,
}

/// A running sampler; [`Sampler::stop`] ends it and returns what it saw.
pub struct Sampler {
    files: Vec<Arc<Watched>>,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `files`, each with the values it may hold now.
    pub fn start(files: &[(&Path, &[String])]) -> Sampler {
        let files: Vec<Arc<Watched>> = files
            .iter()
            .map(|(p, vals)| {
                Arc::new(Watched {
                    path: p.to_path_buf(),
                    allowed: Mutex::new(vals.to_vec()),
                    may_be_absent: AtomicBool::new(false),
                })
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let (f, s, t) = (files.clone(), stop.clone(), tally.clone());
        let thread = std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    for w in &f {
                        let verdict = check(w);
                        let mut t = t.lock().unwrap();
                        t.samples += 1;
                        if let Some(v) = verdict {
                            t.violations += 1;
                            if t.kept.len() < KEEP {
                                t.kept.push(v);
                            }
                        }
                    }
                    std::thread::sleep(SAMPLE_INTERVAL);
                }
            })
            .expect("sampler thread");
        Sampler {
            files,
            stop,
            tally,
            thread: Some(thread),
        }
    }

    /// From now on `path` may also hold `value` (call before the value can reach the file).
    pub fn allow(&self, path: &Path, value: &str) {
        self.watched(path)
            .allowed
            .lock()
            .unwrap()
            .push(value.to_string());
    }

    /// From now on `path` may be absent.
    pub fn allow_absent(&self, path: &Path) {
        self.watched(path)
            .may_be_absent
            .store(true, Ordering::SeqCst);
    }

    fn watched(&self, path: &Path) -> &Watched {
        self.files
            .iter()
            .find(|w| w.path == path)
            .unwrap_or_else(|| panic!("{} is not sampled", path.display()))
    }

    /// Stops sampling (after one last round) and returns the tally.
    pub fn stop(mut self) -> Samples {
        self.finish()
    }

    fn finish(&mut self) -> Samples {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let t = std::mem::take(&mut *self.tally.lock().unwrap());
        Samples {
            samples: t.samples,
            violations: t.violations,
            first: t.kept,
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One read of one file: `None` when it is fine, else what was wrong.
fn check(w: &Watched) -> Option<String> {
    let name = w.path.display();
    match std::fs::read(&w.path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (!w.may_be_absent.load(Ordering::SeqCst)).then(|| format!("{name}: missing"))
        }
        Err(e) => Some(format!("{name}: unreadable ({e})")),
        Ok(bytes) if bytes.is_empty() => Some(format!("{name}: empty")),
        Ok(bytes) => {
            let ok = w
                .allowed
                .lock()
                .unwrap()
                .iter()
                .any(|v| v.as_bytes() == bytes.as_slice());
            (!ok).then(|| format!("{name}: unexpected content ({} bytes)", bytes.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounds(n: u32) {
        std::thread::sleep(SAMPLE_INTERVAL * n);
    }

    #[test]
    fn flags_missing_empty_and_unexpected_content_but_not_allowed_values() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "one").unwrap();
        let sampler = Sampler::start(&[(f.as_path(), &["one".to_string()])]);
        rounds(3);
        sampler.allow(&f, "two");
        // Replaced whole (a new file renamed over it), as the agent writes.
        std::fs::write(dir.path().join("new"), "two").unwrap();
        std::fs::rename(dir.path().join("new"), &f).unwrap();
        rounds(3);
        let clean = sampler.stop();
        assert!(clean.samples >= 3, "{clean:?}");
        assert_eq!(clean.violations, 0, "{clean:?}");

        for (bad, what) in [
            (Some("tw"), "unexpected content (2 bytes)"),
            (Some(""), "empty"),
            (None, "missing"),
        ] {
            std::fs::write(&f, "one").unwrap();
            let sampler = Sampler::start(&[(f.as_path(), &["one".to_string()])]);
            match bad {
                Some(b) => std::fs::write(&f, b).unwrap(),
                None => std::fs::remove_file(&f).unwrap(),
            }
            rounds(3);
            let seen = sampler.stop();
            assert!(seen.violations > 0, "{what}: {seen:?}");
            // (A write in place may also be caught half-done, as empty: that is the point.)
            assert!(
                seen.first.iter().any(|v| v.ends_with(what)),
                "{what}: {seen:?}"
            );
        }
    }

    #[test]
    fn an_absent_file_may_be_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("goes");
        std::fs::write(&f, "x").unwrap();
        // The file is there while the sampler starts (so no read can race the permission), then
        // may go, and goes.
        let sampler = Sampler::start(&[(f.as_path(), &["x".to_string()])]);
        sampler.allow_absent(&f);
        std::fs::remove_file(&f).unwrap();
        rounds(3);
        let seen = sampler.stop();
        assert!(seen.samples >= 2, "{seen:?}");
        assert_eq!(seen.violations, 0, "{seen:?}");
    }
}
