use proptest::prelude::*;

use super::*;

#[test]
fn a_file_is_sent_as_the_kind_its_type_makes_it() {
    assert_eq!(kind_for("image/jpeg"), MediaKind::Image);
    assert_eq!(kind_for("IMAGE/PNG"), MediaKind::Image);
    assert_eq!(kind_for("image/webp"), MediaKind::Sticker);
    assert_eq!(kind_for("audio/ogg; codecs=opus"), MediaKind::Audio);
    assert_eq!(kind_for("video/mp4"), MediaKind::Video);
    assert_eq!(kind_for("application/pdf"), MediaKind::Document);
    assert_eq!(kind_for("image/gif"), MediaKind::Document);
}

#[test]
fn meta_refuses_an_image_over_5_mb_naming_the_limit() {
    let error = check_outbound(MediaKind::Image, "image/png", meta::IMAGE_BYTES + 1).unwrap_err();

    assert_eq!(error, MediaError::TooLarge { kind: "image", actual: meta::IMAGE_BYTES + 1, limit: 5 * 1024 * 1024 });
    assert!(error.to_string().contains("at most 5242880 bytes"), "{error}");
    assert_eq!(check_outbound(MediaKind::Image, "image/png", meta::IMAGE_BYTES), Ok(()));
}

#[test]
fn meta_refuses_a_type_its_kind_does_not_take_but_a_document_may_be_any_type() {
    let error = check_outbound(MediaKind::Image, "image/gif", 10).unwrap_err();

    assert!(error.to_string().contains("image/jpeg, image/png"), "{error}");
    assert_eq!(check_outbound(MediaKind::Document, "application/zip", 10), Ok(()));
    assert_eq!(check_outbound(MediaKind::Audio, "audio/ogg", 0), Err(MediaError::Empty));
}

#[test]
fn the_inbound_policy_takes_families_and_exact_types_and_refuses_the_rest_with_a_reason() {
    let policy =
        InboundMediaPolicy { max_bytes: 1000, allowed_types: vec!["image/*".into(), "application/pdf".into()] };

    assert_eq!(policy.check("image/jpeg", 1000), Ok(()));
    assert_eq!(policy.check("application/pdf; x=y", 1), Ok(()));
    let (code, reason) = policy.check("video/mp4", 1).unwrap_err();
    assert_eq!(code, RefusalCode::TypeNotAllowed);
    assert!(reason.contains("video/mp4"), "{reason}");
    let (code, reason) = policy.check("image/png", 1001).unwrap_err();
    assert_eq!(code, RefusalCode::TooLarge);
    assert!(reason.contains("the limit is 1000 bytes"), "{reason}");
}

#[test]
fn every_type_is_allowed_by_a_star_star_pattern() {
    let policy = InboundMediaPolicy { max_bytes: 10, allowed_types: vec!["*/*".into()] };

    assert_eq!(policy.check("application/x-anything", 10), Ok(()));
}

#[test]
fn the_hash_meta_announces_is_matched_in_hex_or_base64() {
    // SHA-256 of "abc".
    let digest: Vec<u8> = (0..32)
        .map(|i| {
            u8::from_str_radix(
                &"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"[i * 2..i * 2 + 2],
                16,
            )
            .unwrap()
        })
        .collect();

    assert!(hash_matches("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &digest));
    assert!(hash_matches("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", &digest));
    assert!(hash_matches("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", &digest));
    assert!(hash_matches("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0", &digest));
    assert!(!hash_matches("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa1=", &digest));
    assert!(!hash_matches("", &digest));
}

#[test]
fn base64_pads_as_the_standard_says() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foob"), "Zm9vYg==");
}

#[test]
fn base64_that_is_not_base64_is_refused() {
    assert_eq!(base64_decode("Zm9v!"), None);
    assert_eq!(base64_decode("Zm9v"), Some(b"foo".to_vec()));
}

#[test]
fn a_media_key_is_a_plain_relative_path_and_nothing_that_could_escape_its_folder() {
    assert!(MediaKey::parse("in/abc123").is_ok());
    assert!(MediaKey::parse("out/0190-ab/0").is_ok());
    for bad in ["", "/abs", "in/../x", "in//x", "in/x/", "In/X", "in/x.bin", "in\\x", "in/x?y"] {
        assert!(MediaKey::parse(bad).is_err(), "{bad:?} should be refused");
    }
    let key = MediaKey::outbound(uuid::Uuid::nil(), 2);
    assert_eq!(key.as_str(), "out/00000000-0000-0000-0000-000000000000/2");
    assert_eq!(MediaKey::parse(key.as_str()), Ok(key));
}

proptest! {
    #[test]
    fn no_file_over_metas_limit_for_its_kind_passes(size in 0u64..200 * 1024 * 1024, pick in 0usize..5) {
        let kind = [MediaKind::Image, MediaKind::Audio, MediaKind::Video, MediaKind::Document, MediaKind::Sticker][pick];
        let mime = meta::types(kind)[0];

        let checked = check_outbound(kind, mime, size);

        prop_assert_eq!(checked.is_ok(), size > 0 && size <= meta::max_bytes(kind));
    }

    #[test]
    fn a_type_meta_lists_for_a_kind_is_sent_as_that_kind(pick in 0usize..4, index in 0usize..10) {
        let kind = [MediaKind::Image, MediaKind::Audio, MediaKind::Video, MediaKind::Sticker][pick];
        let types = meta::types(kind);
        let mime = types[index % types.len()];

        prop_assert_eq!(kind_for(mime), kind);
        prop_assert!(check_outbound(kind_for(mime), mime, 1).is_ok());
    }

    #[test]
    fn a_key_that_parses_never_leaves_its_folder(input in "[a-z0-9./\\\\-]{0,30}") {
        if let Ok(key) = MediaKey::parse(&input) {
            prop_assert!(!key.as_str().contains(".."));
            prop_assert!(!key.as_str().starts_with('/'));
            prop_assert!(!key.as_str().contains('\\'));
        }
    }

    #[test]
    fn base64_decodes_what_it_encodes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(base64_decode(&base64(&bytes)), Some(bytes.clone()));
        prop_assert_eq!(base64_decode(base64(&bytes).trim_end_matches('=')), Some(bytes));
    }

    #[test]
    fn base64_has_four_characters_for_every_three_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(base64(&bytes).len(), bytes.len().div_ceil(3) * 4);
    }
}
