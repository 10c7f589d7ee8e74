//! What the tests of the `merchant` binary share: running it as a user does.
#![allow(dead_code)]

use std::process::Command;

/// How one run of `merchant` ended.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the built `merchant` binary with `args`.
pub fn merchant(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_merchant"))
        .args(args)
        .output()
        .expect("the merchant binary runs");
    Run {
        status: out.status.code().expect("exited with a status"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}
