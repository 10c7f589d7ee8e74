//! `merchant qr`: reads a terminal's back QR from its text or from a photo.
//!
//! Prints the serial on the first line, then `model=...` and `sig=...` lines
//! when the QR carries them, and exits 0; or prints each problem's code on
//! its own line (stdout, the messages on stderr) and exits 1. Exit 2 for
//! usage errors and files that cannot be read. Without `--trusted-host` the
//! default configuration's hosts apply.

use std::io::Read;
use std::path::{Path, PathBuf};

use merchant_core::error::Error;
use merchant_core::terminals::photo::scan_qr_photo;
use merchant_core::terminals::qr::{TerminalQr, default_trusted_hosts, parse_qr_text};

const VALID: i32 = 0;
const INVALID: i32 = 1;
const USAGE: i32 = 2;
/// The largest photo file read: the media budget refuses anything larger,
/// so reading more would only cost memory.
const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024 + 1;

#[derive(clap::Subcommand)]
pub enum QrCommand {
    /// Read the text a camera decoded from a terminal's back QR (or a typed serial).
    Parse {
        /// The QR text (quote it).
        #[arg(allow_hyphen_values = true)]
        text: String,
        #[command(flatten)]
        hosts: Hosts,
    },
    /// Read a terminal's back QR from a JPEG or PNG photo.
    Scan {
        /// The photo file.
        image: PathBuf,
        #[command(flatten)]
        hosts: Hosts,
    },
}

#[derive(clap::Args)]
pub struct Hosts {
    /// A host whose back QRs are trusted (repeatable); default: the
    /// configuration's default hosts.
    #[arg(long = "trusted-host", value_name = "HOST")]
    trusted_host: Vec<String>,
}

impl Hosts {
    fn list(self) -> Vec<String> {
        if self.trusted_host.is_empty() {
            default_trusted_hosts()
        } else {
            self.trusted_host
        }
    }
}

pub fn run(command: QrCommand) -> i32 {
    match command {
        QrCommand::Parse { text, hosts } => report(parse_qr_text(&text, &hosts.list())),
        QrCommand::Scan { image, hosts } => match read(&image) {
            Ok(bytes) => report(scan_qr_photo(&bytes, &hosts.list())),
            Err(e) => {
                eprintln!("cannot read {}: {e}", image.display());
                USAGE
            }
        },
    }
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn report(result: Result<TerminalQr, Error>) -> i32 {
    match result {
        Ok(qr) => {
            println!("{}", qr.sn);
            if let Some(model) = qr.model {
                println!("model={model}");
            }
            if let Some(sig) = qr.sig {
                println!("sig={sig}");
            }
            VALID
        }
        Err(e) => {
            if e.problems.is_empty() {
                println!("{}", e.code);
                let message = merchant_core::error::find(&e.code)
                    .map(|c| c.message(merchant_core::error::current_language()))
                    .unwrap_or_default();
                eprintln!("{message}");
            }
            for p in &e.problems {
                println!("{}", p.code);
                eprintln!("{}", p.message);
            }
            INVALID
        }
    }
}
