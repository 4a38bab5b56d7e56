//! Fuzz target bodies, as plain functions so that one body serves two runners: the
//! cargo-fuzz targets in `fuzz/` (nightly, libFuzzer) and the stable test
//! `adapters/tests/fuzz_targets.rs`, which runs them over the seed corpus in
//! `fuzz/corpus/<target>/` and thousands of generated inputs. A target fails by
//! panicking, which is what both runners detect.

use switchboard_application::usecases::WebhookContent;

use crate::inbound::limits::json_depth_exceeds;
use crate::inbound::whatsapp::{envelope, signature};

/// `webhook_envelope`: the tolerant parser over arbitrary bytes never panics, and what
/// it reads from an envelope is self-consistent.
pub fn webhook_envelope(data: &[u8]) {
    match envelope::parse(data) {
        WebhookContent::Envelope(parsed) => {
            for inbound in &parsed.messages {
                assert!(!inbound.message.wamid.as_str().is_empty(), "a parsed message has a wamid");
                assert!(!inbound.message.business_number_id.is_empty(), "a parsed message has a number to reply from");
            }
        }
        WebhookContent::Quarantine { reason } => assert!(!reason.is_empty(), "a quarantine says why"),
    }
    // The depth scanner runs on the same hostile bytes before any parser does.
    let _ = json_depth_exceeds(data, 64);
}

/// Splits fuzz input into (secret, header, body): byte 0 is the secret's length, byte 1
/// the header's (each cut to what is left), the rest is the body. A header length of 255
/// means "no header".
pub fn split_signature_input(data: &[u8]) -> (&[u8], Option<&[u8]>, &[u8]) {
    let (lengths, rest) = data.split_at(data.len().min(2));
    let secret_len = usize::from(lengths.first().copied().unwrap_or(0)).min(rest.len());
    let (secret, rest) = rest.split_at(secret_len);
    let header_byte = lengths.get(1).copied().unwrap_or(255);
    if header_byte == 255 {
        return (secret, None, rest);
    }
    let header_len = usize::from(header_byte).min(rest.len());
    let (header, body) = rest.split_at(header_len);
    (secret, Some(header), body)
}

/// `webhook_signature`: verification over any header, body and secret never panics; a
/// header that verifies is the signature of that body (up to hex case); and what `sign`
/// produces always verifies.
pub fn webhook_signature(data: &[u8]) {
    let (secret, header, body) = split_signature_input(data);
    let expected = signature::sign(secret, body);
    if signature::verify(secret, header, body).is_ok() {
        let header = header.map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase()).unwrap_or_default();
        assert_eq!(header, expected, "only the body's own signature verifies");
    }
    assert_eq!(signature::verify(secret, Some(expected.as_bytes()), body), Ok(()), "a fresh signature verifies");
}
