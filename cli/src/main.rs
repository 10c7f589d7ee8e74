//! `merchant`: the demo, the sandbox server, and tools for validation and money.
//!
//! Exit status: 0 for success or a valid value, 1 for an invalid value (each
//! problem's code on its own line), 2 for usage errors.

mod bench;
mod demo;
mod photo;
mod qr;
mod sandbox;
mod tools;
mod voice;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "merchant",
    version,
    about = "The merchant core's tool: demo, sandbox, validation, money"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Walk one merchant through the whole story against the embedded sandbox.
    Demo(demo::Args),
    /// Run the platform simulator.
    #[command(subcommand)]
    Sandbox(sandbox::Command),
    /// Check an ID card number, credit code, bank card, phone number or name.
    Validate(tools::ValidateArgs),
    /// Money: uppercase and spoken readings, fees.
    #[command(subcommand)]
    Money(tools::MoneyCommand),
    /// The error-code catalogue.
    Errors(tools::ErrorsArgs),
    /// What the phone says for a trade: the text, then its clips.
    Voice(voice::Args),
    /// Photos: check one as the app receives it, or write what would be uploaded.
    #[command(subcommand)]
    Photo(photo::PhotoCommand),
    /// Terminal back QRs: read one from its text or from a photo.
    #[command(subcommand)]
    Qr(qr::QrCommand),
    /// Measure an area of the core beside a reference from the same run.
    Bench(bench::Args),
    /// The work of one bench child process (for peak memory).
    #[command(hide = true)]
    BenchChild(bench::ChildArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let status = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Sandbox(cmd) => sandbox::run(cmd),
        Command::Validate(args) => {
            quiet_on_closed_pipe();
            tools::validate(args)
        }
        Command::Money(cmd) => {
            quiet_on_closed_pipe();
            tools::money(cmd)
        }
        Command::Errors(args) => {
            quiet_on_closed_pipe();
            tools::errors(args)
        }
        Command::Voice(args) => {
            quiet_on_closed_pipe();
            voice::run(args)
        }
        Command::Photo(cmd) => {
            quiet_on_closed_pipe();
            photo::run(cmd)
        }
        Command::Qr(cmd) => {
            quiet_on_closed_pipe();
            qr::run(cmd)
        }
        Command::Bench(args) => bench::run(args),
        Command::BenchChild(args) => bench::child(args),
    };
    std::process::exit(status);
}

/// The one-shot tools end quietly when their reader goes away (`merchant
/// errors | head`), as command-line tools do, instead of panicking on the
/// closed pipe. Not for `serve` and `demo`, whose sockets must never raise
/// SIGPIPE.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread
    // or I/O starts; no handler function is involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
