//! `merchant sandbox serve` (the Platform issue fills this in).

#[derive(clap::Subcommand)]
pub enum Command {
    /// Serve the platform simulator.
    Serve {},
}

pub fn run(_cmd: Command) -> i32 {
    eprintln!("merchant sandbox serve: not built yet");
    2
}
