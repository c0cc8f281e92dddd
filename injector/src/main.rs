//! `vaultlet-injector [agent-inject|version] [flags]`: parses the command line (see `cli`), then
//! runs the webhook until SIGINT/SIGTERM. Exit 1 on any startup error, with upstream's message.

use std::process::ExitCode;

use vaultlet_injector::cli::{self, Invocation};
use vaultlet_injector::settings::Settings;

/// mimalloc, chosen by measurement (bench/README.md): a review allocates and frees a few hundred
/// small strings and maps, and glibc's allocator was a fifth of the webhook's CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    let flags = match cli::parse(std::env::args_os().collect(), &env) {
        Ok(Invocation::Version) => {
            println!("vaultlet-injector {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Serve(f)) => f,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let settings = match Settings::from_cli(*flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    cli_run(settings)
}

fn cli_run(settings: Settings) -> ExitCode {
    vaultlet_injector::run::init_logging(&settings);
    // The I/O driver is polled at every scheduler tick (`event_interval(1)`, tokio's default is
    // 61 tasks), so a connection that turned readable waits behind at most one task run. Chosen by
    // measurement (bench/injector-bench, c=16): p99 1.07× → 0.90× the webhook floor's, and
    // throughput no lower.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .event_interval(1)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(vaultlet_injector::run::run(settings, None)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
