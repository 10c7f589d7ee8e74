//! `merchant photo`: checks a photo as the app receives it, and writes what
//! would be uploaded.
//!
//! Exit status: 0 for an acceptable photo, 1 for a refused one (each
//! problem's code on its own line on stdout, its message on stderr), 2 for
//! usage errors and files that cannot be read or written.

use std::io::Read;
use std::path::{Path, PathBuf};

use merchant_core::error::Error;
use merchant_core::media::{self, Budget, Target};

const VALID: i32 = 0;
const INVALID: i32 = 1;
const USAGE: i32 = 2;

#[derive(clap::Subcommand)]
pub enum PhotoCommand {
    /// Check a document photo (JPEG or PNG, at most 10 MB and 40 megapixels,
    /// at least 600x400): prints `ok WIDTHxHEIGHT jpeg|png` (as shown, after
    /// the EXIF orientation).
    Check {
        /// The photo file.
        file: PathBuf,
    },
    /// Write what would be uploaded for a document photo (oriented, metadata
    /// stripped, at most 2560 px and 2 MB, a JPEG): prints
    /// `ok WIDTHxHEIGHT jpeg`, `size BYTES` and `sha256 HEX`.
    Prepare {
        /// The photo file.
        file: PathBuf,
        /// Where to write the prepared photo.
        out: PathBuf,
    },
}

pub fn run(command: PhotoCommand) -> i32 {
    match command {
        PhotoCommand::Check { file } => {
            let Some(bytes) = read(&file) else {
                return USAGE;
            };
            let budget = Budget::DOCUMENT;
            // The header first, then every pixel: a file cut short passes the
            // first and fails the second.
            match media::probe(&bytes, &budget)
                .and_then(|p| media::decode(&bytes, &budget).map(|_| p))
            {
                Ok(p) => {
                    println!("ok {}x{} {}", p.width, p.height, p.format.as_str());
                    VALID
                }
                Err(e) => refused(&e),
            }
        }
        PhotoCommand::Prepare { file, out } => {
            let Some(bytes) = read(&file) else {
                return USAGE;
            };
            match media::prepare(&bytes, Target::Document) {
                Ok(p) => {
                    if let Err(e) = std::fs::write(&out, &p.bytes) {
                        eprintln!("cannot write {}: {e}", out.display());
                        return USAGE;
                    }
                    println!("ok {}x{} {}", p.width, p.height, p.format.as_str());
                    println!("size {}", p.bytes.len());
                    println!("sha256 {}", p.sha256);
                    VALID
                }
                Err(e) => refused(&e),
            }
        }
    }
}

/// The file's bytes, at most one byte over the budget (enough to refuse it
/// as too large without reading a huge file whole).
fn read(path: &Path) -> Option<Vec<u8>> {
    let limit = Budget::DOCUMENT.max_bytes as u64 + 1;
    let mut bytes = Vec::new();
    match std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes)) {
        Ok(_) => Some(bytes),
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            None
        }
    }
}

/// Each problem's code on its own line (stdout), its message on stderr.
fn refused(e: &Error) -> i32 {
    if e.problems.is_empty() {
        println!("{}", e.code);
    }
    for p in &e.problems {
        println!("{}", p.code);
        eprintln!("{}", p.message);
    }
    INVALID
}
