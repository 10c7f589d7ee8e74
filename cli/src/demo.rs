//! `merchant demo` (the Platform issue fills this in).

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> i32 {
    eprintln!("merchant demo: not built yet");
    2
}
