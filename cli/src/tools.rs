//! `merchant validate`, `merchant money`, `merchant errors` (the Foundation issue fills these in).

#[derive(clap::Args)]
pub struct ValidateArgs {}

#[derive(clap::Subcommand)]
pub enum MoneyCommand {
    /// The uppercase (大写) reading.
    Upper {},
}

#[derive(clap::Args)]
pub struct ErrorsArgs {}

pub fn validate(_a: ValidateArgs) -> i32 {
    2
}

pub fn money(_c: MoneyCommand) -> i32 {
    2
}

pub fn errors(_a: ErrorsArgs) -> i32 {
    2
}
