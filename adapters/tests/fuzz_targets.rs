//! The fuzz targets on stable Rust: every seed in `fuzz/corpus/<target>/`, then
//! thousands of generated inputs (arbitrary bytes, and seeds mutated byte by byte),
//! through the same bodies the cargo-fuzz targets run. `FUZZ_CASES` sets how many
//! generated inputs each property gets (default 4000), so CI stays bounded in time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use proptest::prelude::*;
use switchboard_adapters::fuzzing::{split_signature_input, webhook_envelope, webhook_signature};
use switchboard_adapters::inbound::whatsapp::signature;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    seeds.sort();
    seeds
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4000)
}

#[test]
fn every_envelope_seed_runs_through_the_envelope_target() {
    let seeds = corpus("webhook_envelope");
    assert!(seeds.len() >= 20, "the corpus holds the WhatsApp fixtures and the tricky cases");
    for (_, seed) in &seeds {
        webhook_envelope(seed);
    }
}

#[test]
fn every_signature_seed_runs_through_the_signature_target() {
    let seeds = corpus("webhook_signature");
    assert!(seeds.len() >= 10);
    for (_, seed) in &seeds {
        webhook_signature(seed);
    }
    let (_, valid) = seeds.iter().find(|(name, _)| name == "valid").expect("a valid seed");
    let (secret, header, body) = split_signature_input(valid);
    assert_eq!(signature::verify(secret, header, body), Ok(()), "the layout is the one the seeds were written in");
}

/// A seed with a few bytes replaced, inserted or removed: near-valid input, where
/// parsers break.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..8);
    (prop::sample::select(seeds), edits).prop_map(|(mut bytes, edits)| {
        for (at, kind, byte) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        bytes
    })
}

fn seeds_of(target: &str) -> Vec<Vec<u8>> {
    corpus(target).into_iter().map(|(_, bytes)| bytes).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_envelope_target_survives_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        webhook_envelope(&data);
    }

    #[test]
    fn the_envelope_target_survives_mutated_fixtures(data in mutated(seeds_of("webhook_envelope"))) {
        webhook_envelope(&data);
    }

    #[test]
    fn the_signature_target_survives_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
        webhook_signature(&data);
    }

    #[test]
    fn the_signature_target_survives_mutated_seeds(data in mutated(seeds_of("webhook_signature"))) {
        webhook_signature(&data);
    }

    #[test]
    fn a_body_changed_in_one_byte_no_longer_verifies(
        secret in proptest::collection::vec(any::<u8>(), 0..80),
        body in proptest::collection::vec(any::<u8>(), 1..512),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let header = signature::sign(&secret, &body);
        let mut changed = body.clone();
        changed[at.index(body.len())] ^= flip;
        prop_assert_eq!(signature::verify(&secret, Some(header.as_bytes()), &body), Ok(()));
        prop_assert_eq!(
            signature::verify(&secret, Some(header.as_bytes()), &changed),
            Err(signature::SignatureError::Mismatch)
        );
    }
}
