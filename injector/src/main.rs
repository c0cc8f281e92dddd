//! `vaultlet-injector [agent-inject|version|render] [flags]` (`-version`/`--version` too): parses the command line (see `cli`),
//! then runs the webhook until SIGINT/SIGTERM. Exit 1 on any startup error, with upstream's
//! message. `render` previews instead (see `preview`): exit 0, 1 when the input or the flags
//! cannot be used, 2 when the injector would refuse a pod.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use vaultlet_injector::cli::{self, Invocation, RenderFlags, RenderOutput};
use vaultlet_injector::preview::namespaces::NamespaceFile;
use vaultlet_injector::preview::{self, Output};
use vaultlet_injector::settings::{PreviewSettings, Settings};

/// mimalloc, chosen by measurement (bench/README.md): a review allocates and frees a few hundred
/// small strings and maps, and glibc's allocator was a fifth of the webhook's CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The injector's command line is its settings step: flags and `AGENT_INJECT_*` are read here.
    #[allow(clippy::disallowed_methods)]
    let env = |k: &str| std::env::var(k).ok();
    let flags = match cli::parse(std::env::args_os().collect(), &env) {
        Ok(Invocation::Version) => {
            println!("vaultlet-injector {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Serve(f)) => f,
        Ok(Invocation::Render(f)) => return render(*f),
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
    // Tokio's default event interval (the I/O driver is polled every 61 tasks). Polling it at every
    // task (`event_interval(1)`) was chosen in an earlier measurement; since the admission checks,
    // four batches of bench/injector-bench at c=16 give the default a p99 5–10 % lower at the same
    // throughput (bench/results/injector-issue18-before-after.md).
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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

/// `vaultlet-injector render`: reads the file (or standard input), previews, prints.
fn render(f: RenderFlags) -> ExitCode {
    let no_address = f.injector.agent.vault_address.is_empty();
    let settings = match PreviewSettings::from_cli(f.injector) {
        Ok(s) => s,
        Err(e) if no_address => {
            eprintln!(
                "{e} (render needs the injector's -vault-address or AGENT_INJECT_VAULT_ADDR)"
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    // The review logs what the server would (warnings; everything with -log-level=debug).
    vaultlet_injector::run::init_log(settings.log_level, settings.log_json);
    let name = &f.render.filename;
    let mut input = String::new();
    let read = if name == "-" {
        std::io::stdin().read_to_string(&mut input).map(|_| ())
    } else {
        std::fs::read_to_string(name).map(|s| input = s)
    };
    if let Err(e) = read {
        eprintln!("error: reading {name}: {e}");
        return ExitCode::from(1);
    }
    let namespaces = match f.render.namespace_file.as_str() {
        "" => NamespaceFile::default(),
        file => match std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| NamespaceFile::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: {file}: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let output = match f.render.output {
        RenderOutput::Pod => Output::Pod,
        RenderOutput::Patch => Output::Patch,
        RenderOutput::Config => Output::Config,
    };
    match preview::preview_in(
        &input,
        output,
        &f.render.namespace,
        &namespaces,
        &settings.defaults,
    ) {
        Ok(p) => {
            for line in &p.stderr {
                eprintln!("{line}");
            }
            let mut out = std::io::stdout().lock();
            if let Err(e) = out
                .write_all(p.stdout.as_bytes())
                .and_then(|()| out.flush())
            {
                eprintln!("error: writing the output: {e}");
                return ExitCode::from(1);
            }
            ExitCode::from(if p.refused { 2 } else { 0 })
        }
        Err(e) => {
            eprintln!("error: {name}: {e}");
            ExitCode::from(1)
        }
    }
}
