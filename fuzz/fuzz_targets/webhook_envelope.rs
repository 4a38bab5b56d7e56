#![no_main]
//! The WhatsApp envelope parser over arbitrary bytes (body in `switchboard_adapters::fuzzing`).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchboard_adapters::fuzzing::webhook_envelope(data));
