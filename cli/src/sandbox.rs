//! `merchant sandbox serve`: the platform simulator for app developers.
//!
//! Prints the base URL, the TLS pin (with `--tls`) and the platform public
//! key, one `name: value` per line, then serves until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use merchant_sandbox::{Sandbox, SandboxConfig};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Serve the platform simulator until Ctrl-C.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (an Android emulator reaches the host's
    /// 127.0.0.1 as 10.0.2.2).
    #[arg(long, default_value = "127.0.0.1:8700")]
    addr: SocketAddr,
    /// Serve HTTPS with a certificate made at start; its pin is printed.
    #[arg(long)]
    tls: bool,
    /// Seed of everything simulated.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the sandbox's database in this SQLite file (default: in memory).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Seconds of the business clock between an application's submission
    /// and its review (0: reviewed at once).
    #[arg(long, default_value_t = 30)]
    review_delay: u32,
}

pub fn run(cmd: Command) -> i32 {
    let Command::Serve(args) = cmd;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("merchant sandbox: cannot start a runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> i32 {
    use std::io::Write as _;
    if args.db.as_ref().is_some_and(|p| p.exists()) {
        eprintln!(
            "merchant sandbox: {} exists; the sandbox builds a fresh database",
            args.db
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        return 2;
    }
    let config = SandboxConfig {
        addr: args.addr,
        tls: args.tls,
        seed: args.seed,
        db_path: args.db,
        review_delay_secs: i64::from(args.review_delay),
        ..SandboxConfig::default()
    };
    // Listen for the stop signals before printing the banner: whoever reads
    // the banner may signal at once.
    let stop = match StopSignal::listen() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("merchant sandbox: cannot listen for Ctrl-C: {e}");
            return 1;
        }
    };
    let sandbox = match Sandbox::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("merchant sandbox: {e}");
            return 1;
        }
    };
    if !args.addr.ip().is_loopback() {
        eprintln!(
            "注意 / note: listening beyond loopback ({}); the sandbox's platform key is public, never trust it outside development",
            args.addr.ip()
        );
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "沙箱已启动 / sandbox serving (seed {})", args.seed);
    let _ = writeln!(out, "url: {}", sandbox.base_url);
    let _ = writeln!(
        out,
        "pin: {}",
        sandbox
            .pin
            .as_deref()
            .unwrap_or("- (plain http; add --tls)")
    );
    let _ = writeln!(out, "platform_public_key: {}", sandbox.platform_public_key);
    let _ = writeln!(out, "app_id: {}", sandbox.app_id);
    let _ = writeln!(
        out,
        "android_emulator_url: {}",
        sandbox
            .base_url
            .replace("127.0.0.1", "10.0.2.2")
            .replace("localhost", "10.0.2.2")
    );
    let _ = writeln!(out, "按 Ctrl-C 停止 / press Ctrl-C to stop");
    let _ = out.flush();
    drop(out);
    stop.wait().await;
    sandbox.shutdown().await;
    0
}

/// Ctrl-C (SIGINT) or SIGTERM, registered when created.
struct StopSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignal {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignal {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            let _ = &mut self;
        }
    }
}
