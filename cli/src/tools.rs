//! `merchant validate`, `merchant money` and `merchant errors`.
//!
//! Exit status: 0 for a valid value (or a reading / fee printed), 1 for an
//! invalid value with each problem's code on its own line on stdout (the
//! messages go to stderr for people), 2 for usage errors (clap's).

use merchant_core::error::{self, Error};
use merchant_core::money::{Amount, Channel, RateTable};

/// Exit status of a valid value.
const VALID: i32 = 0;
/// Exit status of an invalid value.
const INVALID: i32 = 1;

#[derive(clap::Args)]
pub struct ValidateArgs {}

#[derive(clap::Subcommand)]
pub enum MoneyCommand {
    /// The uppercase (大写) reading of an amount, as bills require.
    Upper {
        /// Yuan, such as 1010.01.
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// The spoken reading of an amount, as the voice broadcast says it.
    Spoken {
        /// Yuan, such as 1005.5.
        #[arg(allow_hyphen_values = true)]
        amount: String,
    },
    /// The fee of a trade under the standard rate table, in yuan.
    Fee {
        /// Yuan, such as 850.
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// How the customer paid.
        #[arg(long, value_enum)]
        channel: ChannelArg,
    },
}

/// The channels as the command line spells them.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ChannelArg {
    Wechat,
    Alipay,
    UnionpayQr,
    DebitCard,
    CreditCard,
}

impl From<ChannelArg> for Channel {
    fn from(c: ChannelArg) -> Channel {
        match c {
            ChannelArg::Wechat => Channel::WeChat,
            ChannelArg::Alipay => Channel::Alipay,
            ChannelArg::UnionpayQr => Channel::UnionPayQr,
            ChannelArg::DebitCard => Channel::DebitCard,
            ChannelArg::CreditCard => Channel::CreditCard,
        }
    }
}

#[derive(clap::Args)]
pub struct ErrorsArgs {
    /// Print the markdown of docs/errors.md instead of a plain listing.
    #[arg(long)]
    markdown: bool,
}

pub fn validate(_a: ValidateArgs) -> i32 {
    2
}

pub fn money(command: MoneyCommand) -> i32 {
    let (text, reading): (&str, fn(Amount) -> Result<String, Error>) = match &command {
        MoneyCommand::Upper { amount } => (amount, |a| Ok(a.in_words())),
        MoneyCommand::Spoken { amount } => (amount, |a| Ok(a.spoken())),
        MoneyCommand::Fee { amount, channel } => {
            let channel = Channel::from(*channel);
            return match Amount::parse(amount).and_then(|a| RateTable::standard().fee(channel, a)) {
                Ok(fee) => {
                    println!("{fee}");
                    VALID
                }
                Err(e) => print_problems(&e),
            };
        }
    };
    match Amount::parse(text).and_then(reading) {
        Ok(line) => {
            println!("{line}");
            VALID
        }
        Err(e) => print_problems(&e),
    }
}

pub fn errors(args: ErrorsArgs) -> i32 {
    if args.markdown {
        print!("{}", error::errors_markdown());
    } else {
        for c in error::catalogue() {
            println!("{}\t{:?}\t{}\t{}", c.code, c.kind, c.zh, c.en);
        }
    }
    VALID
}

/// Prints each problem's code on its own line (stdout) and its message
/// (stderr); an error without problems prints its own code. Returns the
/// exit status of an invalid value.
fn print_problems(e: &Error) -> i32 {
    if e.problems.is_empty() {
        println!("{}", e.code);
        eprintln!("{}", message_of(&e.code));
    }
    for p in &e.problems {
        println!("{}", p.code);
        eprintln!("{}", p.message);
    }
    INVALID
}

fn message_of(code: &str) -> String {
    error::find(code)
        .map(|c| c.message(error::current_language()).to_owned())
        .unwrap_or_default()
}
