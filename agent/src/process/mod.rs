//! The agent as a process: PID file, readiness marker, signals, and the run loop that ties auto-auth, sinks, the
//! listeners and the template runtime together. Top layer of the library (see the crate docs).

pub mod pid_file;
pub mod ready;
pub mod run;
pub mod signals;
