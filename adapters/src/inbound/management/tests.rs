use super::*;

#[test]
fn a_cursor_comes_back_as_it_went_out_and_only_for_its_own_list() {
    let cursor = PageCursor { at: 1_763_800_000_000, id: String::from("0193-abc:def") };

    let text = encode_cursor(List::Deliveries, &cursor);

    assert_eq!(decode_cursor(List::Deliveries, &text).unwrap(), cursor);
    assert_eq!(decode_cursor(List::Contacts, &text).unwrap_err().code, ErrorCode::InvalidCursor);
    assert_eq!(decode_cursor(List::Deliveries, "zz").unwrap_err().code, ErrorCode::InvalidCursor);
    assert_eq!(
        decode_cursor(List::Deliveries, &hex::encode("deliveries:x:1")).unwrap_err().code,
        ErrorCode::InvalidCursor
    );
}

#[test]
fn a_dead_job_cursor_must_name_a_job_number() {
    let bad = hex::encode("dead_jobs:5:abc");

    assert!(decode_cursor(List::DeadJobs, &bad).is_err());
    assert!(decode_cursor(List::DeadJobs, &hex::encode("dead_jobs:5:42")).is_ok());
}

#[test]
fn limits_default_to_50_are_cut_to_500_and_must_be_positive_numbers() {
    assert_eq!(page_request(List::Contacts, None, None).unwrap().limit, 50);
    assert_eq!(page_request(List::Contacts, Some("9999"), None).unwrap().limit, 500);
    assert!(page_request(List::Contacts, Some("0"), None).unwrap_err().message.starts_with("limit:"));
    assert!(page_request(List::Contacts, Some("ten"), None).unwrap_err().message.starts_with("limit:"));
}

#[test]
fn agent_addresses_lose_their_user_info_and_query() {
    assert_eq!(
        switchboard_shared::secrets::public_address("https://user:pw@agents.example/a2a?token=s3cret"),
        "https://agents.example/a2a"
    );
    assert_eq!(switchboard_shared::secrets::public_address("http://127.0.0.1:9000/"), "http://127.0.0.1:9000/");
}
