//! The `switchboard-bench` command line, without a service to measure. The full run
//! against the freshly built `switchboard` binary is in the root package's
//! `tests/bench.rs`, where cargo builds that binary for the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn without_a_switchboard_binary_the_bench_says_what_to_build() {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard-bench"))
        .args(["--binary", "/no/such/dir/switchboard", "--duration", "1"])
        .output()
        .unwrap();

    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(said.contains("no switchboard binary at /no/such/dir/switchboard"), "{said}");
    assert!(said.contains("cargo build --release --workspace"), "{said}");
}

#[test]
fn help_lists_every_option_of_the_bench() {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard-bench")).arg("--help").output().unwrap();

    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--binary",
        "SWITCHBOARD_BIN",
        "--duration",
        "--connections",
        "--rate",
        "--synchronous",
        "--workers",
        "--drain-timeout",
        "--release-note",
        "--rounds",
    ] {
        assert!(help.contains(option), "--help lacks {option}:\n{help}");
    }
}
