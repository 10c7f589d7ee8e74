//! `merchant validate`, `merchant money` and `merchant errors`.
//!
//! Exit status: 0 for a valid value (or a reading / fee printed), 1 for an
//! invalid value with each problem's code on its own line on stdout (the
//! messages go to stderr for people), 2 for usage errors (clap's).

use merchant_core::error::{self, Error, Problem};
use merchant_core::money::{Amount, Channel, RateTable};
use merchant_core::validate::{self, CardKind};

/// The JSON name of a unit enum variant (`individual_business`).
macro_rules! json_name {
    ($value:expr) => {
        serde_json::to_value($value)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
}

/// Exit status of a valid value.
const VALID: i32 = 0;
/// Exit status of an invalid value.
const INVALID: i32 = 1;

#[derive(clap::Args)]
pub struct ValidateArgs {
    #[command(subcommand)]
    what: ValidateCommand,
}

#[derive(clap::Subcommand)]
enum ValidateCommand {
    /// A resident ID number (GB 11643-1999).
    IdCard(Value),
    /// A unified social credit code (GB 32100-2015).
    CreditCode(Value),
    /// A bank card number (Luhn, 15-19 digits), with its bank.
    BankCard(Value),
    /// A mainland China mobile number.
    Phone(Value),
    /// A person's name (Chinese, with · for names such as 阿依古丽·买买提, or Latin).
    Name(Value),
}

#[derive(clap::Args)]
struct Value {
    /// The value as typed (quote it if it holds spaces).
    #[arg(allow_hyphen_values = true)]
    value: String,
    /// Print the record the FFI returns, as JSON.
    #[arg(long)]
    json: bool,
}

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

pub fn validate(args: ValidateArgs) -> i32 {
    match args.what {
        ValidateCommand::IdCard(v) => {
            let c = validate::id_card::check(&v.value);
            let details = [
                ("masked", Some(c.masked.clone())),
                ("gender", c.gender.map(|g| format!("{g:?}").to_lowercase())),
                ("birth_date", c.birth_date.clone()),
                ("province", c.province.clone()),
            ];
            report(v.json, &c, c.valid, &c.problems, &details)
        }
        ValidateCommand::CreditCode(v) => {
            let c = validate::credit_code::check(&v.value);
            let details = [
                ("masked", Some(c.masked.clone())),
                ("entity", c.entity.map(|e| json_name!(e))),
                ("province", c.province.clone()),
            ];
            let status = report(v.json, &c, c.valid, &c.problems, &details);
            // A warning never makes the code invalid: printed after the
            // details (or the problems) as `warning: CODE`.
            if !v.json {
                for w in &c.warnings {
                    println!("warning: {}", w.code);
                    eprintln!("{}", w.message);
                }
            }
            status
        }
        ValidateCommand::BankCard(v) => {
            let c = validate::bank_card::check(&v.value);
            let bank = match &c.bin {
                Some(b) => format!(
                    "{} {} ({}), {}",
                    b.bank_name,
                    b.bank_name_en,
                    b.bank_code,
                    kind_name(b.card_kind)
                ),
                None => "unknown".to_owned(),
            };
            let details = [("masked", Some(c.masked.clone())), ("bank", Some(bank))];
            report(v.json, &c, c.valid, &c.problems, &details)
        }
        ValidateCommand::Phone(v) => {
            let c = validate::phone::check(&v.value);
            let details = [("masked", Some(c.masked.clone()))];
            report(v.json, &c, c.valid, &c.problems, &details)
        }
        ValidateCommand::Name(v) => {
            let c = validate::name::check(&v.value);
            let details = [
                ("masked", Some(c.masked.clone())),
                ("script", c.script.map(|s| json_name!(s))),
            ];
            report(v.json, &c, c.valid, &c.problems, &details)
        }
    }
}

/// Prints a check: with `--json` (`json`) the record itself; otherwise
/// `valid` and its details, or each problem's code. Returns the exit status.
fn report(
    json: bool,
    record: &impl serde::Serialize,
    valid: bool,
    problems: &[Problem],
    details: &[(&str, Option<String>)],
) -> i32 {
    if json {
        match serde_json::to_string_pretty(record) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("cannot print the record: {e}");
                return 2;
            }
        }
    } else if valid {
        println!("valid");
        for (key, value) in details {
            if let Some(value) = value {
                println!("{key}: {value}");
            }
        }
    } else {
        print_each(problems);
    }
    if valid { VALID } else { INVALID }
}

fn kind_name(kind: CardKind) -> &'static str {
    match kind {
        CardKind::Debit => "debit",
        CardKind::Credit => "credit",
        CardKind::Prepaid => "prepaid",
    }
}

pub fn money(command: MoneyCommand) -> i32 {
    let result = match command {
        MoneyCommand::Upper { amount } => Amount::parse(&amount).map(Amount::in_words),
        MoneyCommand::Spoken { amount } => Amount::parse(&amount).map(Amount::spoken),
        MoneyCommand::Fee { amount, channel } => Amount::parse(&amount)
            .and_then(|a| RateTable::standard().fee(channel.into(), a))
            .map(|fee| fee.to_string()),
    };
    match result {
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
pub fn print_problems(e: &Error) -> i32 {
    if e.problems.is_empty() {
        println!("{}", e.code);
        eprintln!("{}", message_of(&e.code));
    }
    print_each(&e.problems);
    INVALID
}

/// Each problem's code on its own line (stdout) and its message (stderr).
fn print_each(problems: &[Problem]) {
    for p in problems {
        println!("{}", p.code);
        eprintln!("{}", p.message);
    }
}

fn message_of(code: &str) -> String {
    error::find(code)
        .map(|c| c.message(error::current_language()).to_owned())
        .unwrap_or_default()
}
