//! `switchboard-bench --service-cpus 0 --bench-cpus 1`: the service and the bare handler
//! on CPU 0, the load generator and fake Graph on CPU 1. Its own test binary, because the
//! bench pins every thread of the process it runs in. The bench checks each placement in
//! /proc and fails a run whose threads are not where it asked; speed is not asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::Parser as _;
use switchboard_bench::BenchArgs;

fn can_pin() -> Result<(), String> {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    if cpus < 2 {
        return Err(format!("this host gives {cpus} CPU"));
    }
    match std::process::Command::new("taskset").arg("-V").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(String::from("no taskset (util-linux)")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_bench_runs_the_service_and_the_bench_on_cpus_of_their_own() {
    // Arrange
    if let Err(why) = can_pin() {
        eprintln!("skipped: pinning needs two CPUs and taskset; {why}");
        return;
    }
    let args = BenchArgs::parse_from([
        "switchboard-bench",
        "--binary",
        env!("CARGO_BIN_EXE_switchboard"),
        "--service-cpus",
        "0",
        "--bench-cpus",
        "1",
        "--duration",
        "1",
        "--connections",
        "4",
        "--rate",
        "50",
        "--drain-timeout",
        "60",
        "--sustained",
        "1",
    ]);

    // Act
    let printed = switchboard_bench::run(args).await.unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();

    // Assert
    assert!(printed.contains("the service on CPUs 0 (1 core), the bench on CPUs 1"), "{printed}");
    assert!(printed.contains("service CPU per message that both rate targets allow"), "{printed}");
    assert!(status.lines().any(|l| l == "Cpus_allowed_list:\t1"), "the bench itself runs on CPU 1:\n{status}");
}

#[test]
fn one_side_pinned_alone_is_refused_before_anything_starts() {
    let args = BenchArgs::try_parse_from(["switchboard-bench", "--service-cpus", "0"]);

    assert!(args.is_err(), "--service-cpus without --bench-cpus must be refused");
}
