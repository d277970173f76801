//! What several of the CLI's test binaries share: the titles, and running the binary.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Eight AG News-like titles with their class (1 to 4): a data set small enough to train on
/// in a test.
pub const TITLES: &[(u8, &str)] = &[
    (1, "Leaders meet for talks on trade"),
    (2, "Team wins the cup final at home"),
    (3, "Stocks rally as oil prices fall"),
    (4, "New chip doubles battery life"),
    (1, "Talks on trade stall in Geneva"),
    (2, "Star striker signs for the club"),
    (3, "Oil prices fall as stocks rally"),
    (4, "Space probe sends back pictures"),
];

/// Runs the `charrnn` binary under test.
pub fn charrnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_charrnn"))
        .args(args)
        .output()
        .expect("the charrnn binary runs")
}

/// Runs `charrnn` and returns its stdout, failing the test with its stderr when it fails.
pub fn ok(args: &[&str]) -> String {
    let out = charrnn(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "charrnn {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Every line of `stdout` as JSON.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// A path as a command-line argument.
pub fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
