//! `switchboard-bench` against this package's `switchboard` binary, which cargo builds
//! for this test (a test of the bench's own package could only find a binary built
//! earlier, maybe stale). Speed is not asserted, only that every figure is measured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser as _;
use switchboard_bench::BenchArgs;

#[tokio::test(flavor = "multi_thread")]
async fn bench_in_quick_mode_prints_every_figure_with_its_target() {
    // Arrange: two short rounds at a low rate.
    let args = BenchArgs::parse_from([
        "switchboard-bench",
        "--binary",
        env!("CARGO_BIN_EXE_switchboard"),
        "--duration",
        "1",
        "--connections",
        "4",
        "--rate",
        "50",
        "--drain-timeout",
        "60",
        "--rounds",
        "2",
        "--sustained",
        "2",
    ]);

    // Act
    let printed = switchboard_bench::run(args).await.unwrap();

    // Assert
    for figure in [
        "bare actix-web handler",
        "webhooks acknowledged durably",
        "as a share of the bare handler",
        "p50",
        "p99",
        "max",
        "the generator started late",
        "end to end, webhook to Graph send",
        "peak RSS of the run (VmHWM)",
        "idle RSS after start",
        "lone message, webhook to reply at Graph",
        "median of 2 rounds",
        "each of 2 rounds",
        "end to end messages/s",
        "lone message p99, ms",
        "sustained 2s at the end-to-end rate: end to end",
        "as a share of the acknowledged rate",
        "backlog peak, first third / last third",
        "the bench's own CPU per message (load and fake Graph)",
        "service CPU per message that both rate targets allow",
        "sustained CPU per msg, us",
    ] {
        assert!(printed.contains(figure), "no {figure:?} in:\n{printed}");
    }
    // The service's threads are told apart by their names: its SQLite writer works on
    // every message, so the sustained phase finds CPU time on it.
    let writer = printed.lines().find(|line| line.contains("of which the SQLite writer")).unwrap_or_default();
    let writer_us: f64 = writer.split_whitespace().rev().nth(1).and_then(|us| us.parse().ok()).unwrap_or(0.0);
    assert!(writer_us > 0.0, "no CPU on the writer thread in:\n{printed}");
}
