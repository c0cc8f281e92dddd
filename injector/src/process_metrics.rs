//! `process_*` metrics under the names Prometheus' Go client gives them (injector.md §6.6), read
//! from `/proc` at each scrape: CPU seconds, resident and virtual memory and its limit, open and
//! maximum file descriptors, start time. The parsers are pure; [`ProcessCollector`] reads the files.
//! Like Go's `procfs`, CPU ticks are taken as 1/100 s (`USER_HZ`, 100 on every Linux ABI).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second of `/proc/<pid>/stat`'s times.
const USER_HZ: f64 = 100.0;

/// What `/proc/self/stat` says (the fields after the command name).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Start time after boot, seconds.
    pub start_after_boot: f64,
    /// Virtual memory size, bytes.
    pub virtual_bytes: f64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses: the
/// fields start after its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // rest[0] is field 3 (state): field n is at n - 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |n: usize| f.get(n - 3)?.parse::<f64>().ok();
    Some(Stat {
        cpu_seconds: (num(14)? + num(15)?) / USER_HZ,
        start_after_boot: num(22)? / USER_HZ,
        virtual_bytes: num(23)?,
    })
}

/// `btime` of `/proc/stat`: the boot time, seconds since the epoch.
pub fn parse_boot_time(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `VmRSS` of `/proc/<pid>/status`, in bytes.
pub fn parse_rss(text: &str) -> Option<f64> {
    let kb: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

/// The soft limit named `name` in `/proc/<pid>/limits`; `unlimited` is `u64::MAX`, as Go's
/// `procfs` reads it.
pub fn parse_soft_limit(text: &str, name: &str) -> Option<f64> {
    let soft = text
        .lines()
        .find_map(|l| l.strip_prefix(name))?
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        Some(u64::MAX as f64)
    } else {
        soft.parse().ok()
    }
}

/// Reads `/proc/self` at each scrape; a file it cannot read leaves its metrics out.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let stat = read("/proc/self/stat").as_deref().and_then(parse_stat);
        let limits = read("/proc/self/limits");
        let limit = |name| limits.as_deref().and_then(|t| parse_soft_limit(t, name));
        let mut gauge = |name: &str, help: &str, v: Option<f64>| match v {
            Some(v) => {
                let g = ConstGauge::new(v);
                g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
            }
            None => Ok(()),
        };
        gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as f64),
        )?;
        gauge(
            "process_max_fds",
            "Most file descriptors the process may open (soft limit).",
            limit("Max open files"),
        )?;
        gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            stat.map(|s| s.virtual_bytes),
        )?;
        gauge(
            "process_virtual_memory_max_bytes",
            "Most virtual memory the process may map, in bytes (soft limit).",
            limit("Max address space"),
        )?;
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            read("/proc/self/status").as_deref().and_then(parse_rss),
        )?;
        let boot = read("/proc/stat").as_deref().and_then(parse_boot_time);
        gauge(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds.",
            stat.zip(boot).map(|(s, b)| b + s.start_after_boot),
        )?;
        if let Some(s) = stat {
            let c = ConstCounter::new(s.cpu_seconds);
            // prometheus-client adds `_total` to a counter's samples.
            c.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent, in seconds.",
                None,
                c.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        // Fields 3..=24; the command name has a space and a parenthesis.
        let stat = "4242 (vault (inj) x) S 1 4242 4242 0 -1 4194560 3000 0 0 0 \
                    150 50 0 0 20 0 9 0 123456 987654321 2500 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                cpu_seconds: 2.0,
                start_after_boot: 1234.56,
                virtual_bytes: 987_654_321.0,
            })
        );
        assert_eq!(parse_stat("4242 (x) S 1"), None);
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1795344136\nprocesses 9\n"),
            Some(1_795_344_136.0)
        );
        assert_eq!(
            parse_rss("Name:\tx\nVmRSS:\t   12344 kB\nThreads:\t9\n"),
            Some(12344.0 * 1024.0)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max address space         unlimited            unlimited            bytes     \n\
                      Max open files            1024                 1048576              files     \n";
        assert_eq!(parse_soft_limit(limits, "Max open files"), Some(1024.0));
        assert_eq!(
            parse_soft_limit(limits, "Max address space"),
            Some(u64::MAX as f64)
        );
        assert_eq!(parse_soft_limit(limits, "Max locked memory"), None);
    }

    #[test]
    fn this_process_reads_sane_values() {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        let mut om = String::new();
        prometheus_client::encoding::text::encode(&mut om, &registry).unwrap();
        let text = crate::exposition::text_format(&om);
        let value = |name: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no {name}: {text}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(start <= now + 1.0 && start > now - 86_400.0, "{text}");
        assert!(value("process_resident_memory_bytes") > 1e6, "{text}");
        assert!(value("process_virtual_memory_bytes") > value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0, "{text}");
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_cpu_seconds_total") >= 0.0);
        assert!(value("process_virtual_memory_max_bytes") > 0.0);
        assert!(
            text.contains("# TYPE process_cpu_seconds_total counter\n"),
            "{text}"
        );
    }
}
