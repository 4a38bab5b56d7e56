#![no_main]
//! The `X-Hub-Signature-256` check over arbitrary secret, header and body (layout and
//! body in `switchboard_adapters::fuzzing`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchboard_adapters::fuzzing::webhook_signature(data));
