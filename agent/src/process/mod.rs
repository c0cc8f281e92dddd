//! The agent as a process: PID file, signals, log set-up, counters, and the run loop that ties
//! auto-auth, sinks and the template runtime together.

pub mod logging;
pub mod metrics;
pub mod pid_file;
pub mod run;
pub mod signals;
