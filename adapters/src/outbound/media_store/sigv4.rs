//! AWS Signature Version 4 for the few S3 requests the media store makes (ADR 0027): the
//! canonical request, the string to sign, the derived key and the `Authorization` header,
//! as AWS's "Signature Calculations for the Authorization Header" describes them. The
//! payload is always signed (its SHA-256 in `x-amz-content-sha256`), never streamed.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The credentials and scope requests are signed with.
pub struct Signer {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub region: String,
}

/// One request to sign: everything the signature covers.
pub struct Request<'a> {
    pub method: &'a str,
    /// `host` or `host:port`, exactly as the `Host` header will carry it.
    pub host: &'a str,
    /// The path as sent, already percent-encoded ([`encode_path`]).
    pub path: &'a str,
    /// Headers besides `host`, `x-amz-date` and `x-amz-content-sha256`, names in lower case.
    pub headers: &'a [(String, String)],
    /// Hex SHA-256 of the body.
    pub payload_sha256: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
}

/// SHA-256 of nothing: the payload hash of a GET or HEAD.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl Signer {
    /// The `Authorization` header's value for `request`.
    pub fn authorization(&self, request: &Request<'_>) -> String {
        let mut headers: Vec<(String, String)> = vec![
            ("host".to_owned(), request.host.to_owned()),
            ("x-amz-content-sha256".to_owned(), request.payload_sha256.to_owned()),
            ("x-amz-date".to_owned(), request.amz_date.to_owned()),
        ];
        // Values trimmed and inner runs of spaces made one, as the canonical form wants.
        headers.extend(
            request.headers.iter().map(|(name, value)| {
                (name.to_ascii_lowercase(), value.split_whitespace().collect::<Vec<_>>().join(" "))
            }),
        );
        headers.sort();
        let signed_headers = headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";");
        let canonical_headers: String = headers.iter().map(|(name, value)| format!("{name}:{value}\n")).collect();
        let canonical_request = format!(
            "{}\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
            request.method, request.path, request.payload_sha256
        );
        let date = request.amz_date.get(..8).unwrap_or_default();
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
            request.amz_date,
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let secret = format!("AWS4{}", self.secret_access_key.expose_secret());
        let mut key = secret.into_bytes();
        for part in [date, self.region.as_str(), "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key_id
        )
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail here.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// `path` percent-encoded as S3 expects in a URI and its canonical form: every byte but
/// the unreserved ones (`A-Z a-z 0-9 - _ . ~`) and `/`.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `text` percent-encoded as [`encode_path`] does, `/` included: for a header value that
/// must stay ASCII (S3 keeps user metadata as US-ASCII).
pub fn encode_value(text: &str) -> String {
    encode_path(text).replace('/', "%2F")
}

/// The inverse of [`encode_value`]; `None` when it is not percent-encoded UTF-8.
pub fn decode_value(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `now` as `x-amz-date` wants it: `20130524T000000Z`.
pub fn amz_date(now: time::OffsetDateTime) -> String {
    let now = now.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's own example ("Example: GET Object" in the Signature Version 4 documentation
    /// for S3): the same request must give the same signature.
    #[test]
    fn the_documented_get_object_example_signs_to_the_documented_signature() {
        let signer = Signer {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: SecretString::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1".into(),
        };
        let request = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            headers: &[("range".into(), "bytes=0-9".into())],
            payload_sha256: EMPTY_SHA256,
            amz_date: "20130524T000000Z",
        };

        let authorization = signer.authorization(&request);

        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn values_are_percent_encoded_to_ascii_and_decode_back() {
        let name = "Invoice März 2026/draft (1).pdf";

        let encoded = encode_value(name);

        assert!(encoded.bytes().all(|b| b.is_ascii_graphic()), "{encoded}");
        assert_eq!(decode_value(&encoded).as_deref(), Some(name));
        assert_eq!(encode_path("switchboard/in/ab-1"), "switchboard/in/ab-1");
        assert_eq!(decode_value("%ZZ"), None);
    }

    #[test]
    fn the_date_is_written_as_amz_date() {
        let at = time::macros::datetime!(2026-12-07 09:05:03 UTC);

        assert_eq!(amz_date(at), "20261207T090503Z");
    }
}
