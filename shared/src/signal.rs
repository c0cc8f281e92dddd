//! Signal names and the `<SIGNAL> <process>` value of `agent-inject-signal-<name>` (extension,
//! injector.md §1.4): one parser for the injector, which refuses a bad value at admission, and
//! the agent's `signal` subcommand, which sends it. Pure.

/// The Linux signals by name (without `SIG`), with their numbers on x86-64 and arm64.
pub const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// A signal as the user named it: its canonical name (`HUP`) and number (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalName {
    pub name: &'static str,
    pub number: i32,
}

/// Why a signal or a signal annotation value is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("{0:?} is not a signal (use a name such as HUP, SIGHUP, TERM, USR1 or a number 1-31)")]
    Unknown(String),
    #[error("{0:?} is not \"<SIGNAL> <process>\" (e.g. \"HUP nginx\")")]
    Shape(String),
}

/// Parses `HUP`, `SIGHUP`, `sighup` or `1` (case-insensitive; numbers 1–31 of [`SIGNALS`]).
pub fn parse_signal(s: &str) -> Result<SignalName, SignalError> {
    let t = s.trim();
    let found = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<i32>()
            .ok()
            .and_then(|n| SIGNALS.iter().find(|(_, num)| *num == n))
    } else {
        let upper = t.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper).to_owned();
        SIGNALS.iter().find(|(name, _)| *name == bare)
    };
    found
        .map(|&(name, number)| SignalName { name, number })
        .ok_or_else(|| SignalError::Unknown(s.to_owned()))
}

/// Parses the value of `agent-inject-signal-<name>`: a signal and a process name separated by
/// whitespace (`"HUP nginx"`); the process name is one word (a `comm` or an executable's name).
pub fn parse_signal_target(value: &str) -> Result<(SignalName, String), SignalError> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let [signal, process] = words[..] else {
        return Err(SignalError::Shape(value.to_owned()));
    };
    Ok((parse_signal(signal)?, process.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_prefixes_case_and_numbers() {
        for s in ["HUP", "SIGHUP", "sighup", "hup", "1", " HUP "] {
            assert_eq!(
                parse_signal(s),
                Ok(SignalName {
                    name: "HUP",
                    number: 1
                }),
                "{s}"
            );
        }
        assert_eq!(parse_signal("TERM").unwrap().number, 15);
        assert_eq!(parse_signal("SIGUSR1").unwrap().number, 10);
        assert_eq!(parse_signal("usr2").unwrap().number, 12);
        assert_eq!(parse_signal("KILL").unwrap().number, 9);
        assert_eq!(parse_signal("9").unwrap().name, "KILL");
        for bad in ["", "SIG", "HUPP", "0", "32", "-1", "+1", "1.0", "SIGSIGHUP"] {
            assert_eq!(
                parse_signal(bad),
                Err(SignalError::Unknown(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn annotation_value_is_a_signal_and_one_process_name() {
        let (sig, p) = parse_signal_target("HUP nginx").unwrap();
        assert_eq!((sig.name, p.as_str()), ("HUP", "nginx"));
        let (sig, p) = parse_signal_target("  SIGUSR1\tapp-server ").unwrap();
        assert_eq!((sig.number, p.as_str()), (10, "app-server"));
        for bad in ["", "HUP", "nginx", "HUP nginx extra"] {
            assert_eq!(
                parse_signal_target(bad),
                Err(SignalError::Shape(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            parse_signal_target("BOGUS nginx").unwrap_err().to_string(),
            "\"BOGUS\" is not a signal (use a name such as HUP, SIGHUP, TERM, USR1 or a number 1-31)"
        );
    }
}
