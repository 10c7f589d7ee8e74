//! `merchant voice`: what the phone says for a trade, as text and as clips.
//!
//! Prints the text on the first line and the clip names, space-separated, on
//! the second, and exits 0; a bad amount (or a zero one) prints each problem's
//! code and exits 1; a missing or unknown channel is a usage error (exit 2).

use merchant_core::alerts::VoiceBroadcast;
use merchant_core::money::Amount;

use crate::tools::{self, ChannelArg};

#[derive(clap::Args)]
pub struct Args {
    /// Yuan, such as 850 or 1005.5.
    #[arg(allow_hyphen_values = true)]
    amount: String,
    /// How the customer paid.
    #[arg(long, value_enum)]
    channel: ChannelArg,
    /// Say it as a refund (退款…).
    #[arg(long)]
    refund: bool,
}

pub fn run(args: Args) -> i32 {
    let broadcast = Amount::parse(&args.amount)
        .and_then(|a| VoiceBroadcast::of(a, args.channel.into(), args.refund));
    match broadcast {
        Ok(b) => {
            println!("{}", b.text);
            println!("{}", b.clips.join(" "));
            0
        }
        Err(e) => tools::print_problems(&e),
    }
}
