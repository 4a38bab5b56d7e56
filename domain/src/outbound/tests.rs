use super::*;

fn buttons(titles: &[&str]) -> OutboundContent {
    OutboundContent::Buttons {
        header: None,
        body: "Pick one".into(),
        footer: None,
        buttons: titles
            .iter()
            .enumerate()
            .map(|(i, t)| ReplyButton { id: format!("b{i}"), title: (*t).into() })
            .collect(),
        media_header: None,
    }
}

fn list(rows: usize) -> OutboundContent {
    OutboundContent::List {
        header: None,
        body: "Choose".into(),
        footer: None,
        button_label: "Options".into(),
        sections: vec![ListSection {
            title: None,
            rows: (0..rows)
                .map(|i| ListRow { id: format!("r{i}"), title: format!("Row {i}"), description: None })
                .collect(),
        }],
    }
}

#[test]
fn three_reply_buttons_are_allowed_and_four_are_refused_naming_the_limit() {
    assert_eq!(buttons(&["a", "b", "c"]).validate(), Ok(()));
    let err = buttons(&["a", "b", "c", "d"]).validate().unwrap_err();
    assert_eq!(err, ContentError::TooMany { what: "reply buttons", actual: 4, limit: 3 });
    assert_eq!(err.to_string(), "reply buttons: 4 given; the limit is 3");
}

#[test]
fn a_button_title_over_20_characters_is_refused() {
    let err = buttons(&["This title is far too long"]).validate().unwrap_err();
    assert!(matches!(err, ContentError::TooLong { what: "button title", limit: 20, .. }));
}

#[test]
fn titles_are_counted_in_characters_not_bytes() {
    assert_eq!(buttons(&["Ação rápida já já 🚀"]).validate(), Ok(()));
}

#[test]
fn a_list_holds_at_most_10_rows() {
    assert_eq!(list(10).validate(), Ok(()));
    assert!(matches!(list(11).validate(), Err(ContentError::TooMany { what: "list rows", .. })));
    assert!(matches!(list(0).validate(), Err(ContentError::TooFew { what: "list rows", .. })));
}

#[test]
fn text_is_limited_to_4096_characters_and_must_not_be_empty() {
    assert!(OutboundContent::text("x".repeat(4096)).validate().is_ok());
    assert!(OutboundContent::text("x".repeat(4097)).validate().is_err());
    assert!(OutboundContent::text("  ").validate().is_err());
}

#[test]
fn media_links_must_be_https_and_audio_has_no_caption() {
    let link = |l: &str| OutboundContent::Media {
        media: MediaKind::Image,
        source: MediaSource::Link(l.into()),
        caption: None,
        filename: None,
    };
    assert_eq!(link("http://x/y.png").validate(), Err(ContentError::InsecureLink));
    assert!(link("https://x/y.png").validate().is_ok());
    let audio = OutboundContent::Media {
        media: MediaKind::Audio,
        source: MediaSource::Id("1".into()),
        caption: Some("no".into()),
        filename: None,
    };
    assert!(audio.validate().is_err());
}

#[test]
fn duplicate_button_ids_are_refused() {
    let content = OutboundContent::Buttons {
        header: None,
        body: "b".into(),
        footer: None,
        buttons: vec![
            ReplyButton { id: "x".into(), title: "A".into() },
            ReplyButton { id: "x".into(), title: "B".into() },
        ],
        media_header: None,
    };
    assert_eq!(content.validate(), Err(ContentError::DuplicateId("x".into())));
}

#[test]
fn plain_text_says_what_the_message_said() {
    assert_eq!(buttons(&["Yes", "No"]).as_plain_text(), "Pick one\n• Yes\n• No");
    let template = OutboundContent::Template {
        name: "order_update".into(),
        language: "en".into(),
        components: vec![TemplateComponent {
            kind: "body".into(),
            sub_type: None,
            index: None,
            parameters: vec![TemplateParameter::text("Amelia")],
        }],
    };
    assert_eq!(template.as_plain_text(), "[template order_update] Amelia");
}

fn template(components: Vec<TemplateComponent>) -> OutboundContent {
    OutboundContent::Template { name: "order_update".into(), language: "en".into(), components }
}

fn media(media: MediaKind, source: MediaSource, caption: Option<&str>, filename: Option<&str>) -> OutboundContent {
    OutboundContent::Media { media, source, caption: caption.map(str::to_owned), filename: filename.map(str::to_owned) }
}

#[test]
fn only_a_template_may_leave_outside_the_window() {
    let reaction = OutboundContent::Reaction { message_id: "wamid.in".into(), emoji: "👍".into() };
    let contents = [
        (OutboundContent::text("hi"), "text"),
        (template(vec![]), "template"),
        (buttons(&["Yes"]), "buttons"),
        (list(1), "list"),
        (media(MediaKind::Image, MediaSource::Id("m1".into()), None, None), "media"),
        (reaction, "reaction"),
    ];

    for (content, kind) in contents {
        assert_eq!(content.kind_name(), kind);
        assert_eq!(content.is_template(), kind == "template", "{kind}");
    }
}

#[test]
fn a_template_needs_a_name_of_at_most_512_characters_and_a_language() {
    assert_eq!(template(vec![]).validate(), Ok(()));
    let named = |name: String, language: &str| OutboundContent::Template {
        name,
        language: language.into(),
        components: vec![],
    };
    assert_eq!(named(" ".into(), "en").validate(), Err(ContentError::Empty { what: "template name" }));
    assert!(matches!(
        named("t".repeat(513), "en").validate(),
        Err(ContentError::TooLong { what: "template name", actual: 513, limit: 512 })
    ));
    assert_eq!(named("t".into(), "").validate(), Err(ContentError::Empty { what: "template language" }));
}

#[test]
fn buttons_need_a_body_short_headers_and_at_least_one_button_with_an_id() {
    let with = |header: Option<String>, body: &str, buttons: Vec<ReplyButton>| OutboundContent::Buttons {
        header,
        body: body.into(),
        footer: None,
        buttons,
        media_header: None,
    };
    let yes = || vec![ReplyButton { id: "y".into(), title: "Yes".into() }];

    assert_eq!(with(None, "", yes()).validate(), Err(ContentError::Empty { what: "interactive body" }));
    assert!(matches!(
        with(None, &"b".repeat(1025), yes()).validate(),
        Err(ContentError::TooLong { what: "interactive body", .. })
    ));
    assert!(matches!(
        with(Some("h".repeat(61)), "b", yes()).validate(),
        Err(ContentError::TooLong { what: "header", limit: 60, .. })
    ));
    assert_eq!(
        with(None, "b", vec![]).validate(),
        Err(ContentError::TooFew { what: "reply buttons", actual: 0, min: 1 })
    );
    assert_eq!(
        with(None, "b", vec![ReplyButton { id: " ".into(), title: "Yes".into() }]).validate(),
        Err(ContentError::Empty { what: "button id" })
    );
    assert_eq!(
        with(None, "b", vec![ReplyButton { id: "y".into(), title: "".into() }]).validate(),
        Err(ContentError::Empty { what: "button title" })
    );
    assert!(matches!(
        with(None, "b", vec![ReplyButton { id: "y".repeat(257), title: "Yes".into() }]).validate(),
        Err(ContentError::TooLong { what: "button id", limit: 256, .. })
    ));
}

#[test]
fn a_list_row_needs_a_short_title_an_id_and_an_id_of_its_own() {
    let with_rows = |rows: Vec<ListRow>| OutboundContent::List {
        header: None,
        body: "Choose".into(),
        footer: Some("Thanks".into()),
        button_label: "Options".into(),
        sections: vec![ListSection { title: Some("Plans".into()), rows }],
    };
    let row = |id: &str, title: &str, description: Option<String>| ListRow {
        id: id.into(),
        title: title.into(),
        description,
    };

    assert!(matches!(
        with_rows(vec![row("a", &"t".repeat(25), None)]).validate(),
        Err(ContentError::TooLong { what: "row title", limit: 24, .. })
    ));
    assert!(matches!(
        with_rows(vec![row("a", "t", Some("d".repeat(73)))]).validate(),
        Err(ContentError::TooLong { what: "row description", limit: 72, .. })
    ));
    assert_eq!(with_rows(vec![row("", "t", None)]).validate(), Err(ContentError::Empty { what: "row id" }));
    assert_eq!(
        with_rows(vec![row("a", "One", None), row("a", "Two", None)]).validate(),
        Err(ContentError::DuplicateId("a".into()))
    );
}

#[test]
fn a_list_needs_a_short_button_label_and_one_to_ten_sections() {
    let with = |button_label: &str, sections: Vec<ListSection>| OutboundContent::List {
        header: None,
        body: "Choose".into(),
        footer: None,
        button_label: button_label.into(),
        sections,
    };
    let one_row =
        || ListSection { title: None, rows: vec![ListRow { id: "r".into(), title: "Row".into(), description: None }] };

    assert_eq!(with(" ", vec![one_row()]).validate(), Err(ContentError::Empty { what: "list button label" }));
    assert!(matches!(
        with(&"l".repeat(21), vec![one_row()]).validate(),
        Err(ContentError::TooLong { what: "list button label", limit: 20, .. })
    ));
    assert_eq!(
        with("Options", vec![]).validate(),
        Err(ContentError::TooFew { what: "list sections", actual: 0, min: 1 })
    );
    assert!(matches!(
        with("Options", (0..11).map(|_| ListSection { title: None, rows: vec![] }).collect()).validate(),
        Err(ContentError::TooMany { what: "list sections", actual: 11, limit: 10 })
    ));
    assert!(matches!(
        with("Options", vec![ListSection { title: Some("s".repeat(25)), ..one_row() }]).validate(),
        Err(ContentError::TooLong { what: "section title", limit: 24, .. })
    ));
}

#[test]
fn media_needs_an_id_and_a_caption_of_at_most_1024_characters() {
    assert_eq!(
        media(MediaKind::Image, MediaSource::Id(" ".into()), None, None).validate(),
        Err(ContentError::Empty { what: "media id" })
    );
    let long_caption = "c".repeat(1025);
    assert!(matches!(
        media(MediaKind::Image, MediaSource::Id("m".into()), Some(&long_caption), None).validate(),
        Err(ContentError::TooLong { what: "caption", limit: 1024, .. })
    ));
    assert_eq!(media(MediaKind::Sticker, MediaSource::Id("m".into()), None, None).validate(), Ok(()));
}

#[test]
fn a_reaction_needs_the_message_it_reacts_to_but_an_empty_emoji_removes_it() {
    let reaction = |message_id: &str| OutboundContent::Reaction { message_id: message_id.into(), emoji: "".into() };

    assert_eq!(reaction("wamid.in").validate(), Ok(()));
    assert_eq!(reaction("").validate(), Err(ContentError::Empty { what: "reaction message id" }));
}

#[test]
fn a_template_without_text_parameters_reads_as_its_name() {
    let content = template(vec![TemplateComponent {
        kind: "header".into(),
        sub_type: None,
        index: None,
        parameters: vec![TemplateParameter::Other(serde_json::json!({"type": "currency"}))],
    }]);

    assert_eq!(content.as_plain_text(), "[template order_update]");
}

#[test]
fn a_list_reads_as_its_header_body_sections_rows_and_footer() {
    let content = OutboundContent::List {
        header: Some("Plans".into()),
        body: "Choose a plan".into(),
        footer: Some("Prices include VAT".into()),
        button_label: "Plans".into(),
        sections: vec![ListSection {
            title: Some("Monthly".into()),
            rows: vec![
                ListRow { id: "basic".into(), title: "Basic".into(), description: Some("5 GB".into()) },
                ListRow { id: "pro".into(), title: "Pro".into(), description: None },
            ],
        }],
    };

    assert_eq!(content.as_plain_text(), "Plans\nChoose a plan\nMonthly\n• Basic: 5 GB\n• Pro\nPrices include VAT");
}

#[test]
fn media_reads_as_its_kind_link_and_caption_or_file_name() {
    let link = || MediaSource::Link("https://x/a.pdf".into());
    assert_eq!(
        media(MediaKind::Document, link(), Some("Your invoice"), Some("a.pdf")).as_plain_text(),
        "[document] https://x/a.pdf Your invoice"
    );
    assert_eq!(
        media(MediaKind::Document, link(), None, Some("a.pdf")).as_plain_text(),
        "[document] https://x/a.pdf a.pdf"
    );
    assert_eq!(media(MediaKind::Image, MediaSource::Id("m".into()), None, None).as_plain_text(), "[image]");
}

#[test]
fn a_reactions_text_is_its_emoji_and_lengths_count_characters() {
    let reaction = OutboundContent::Reaction { message_id: "wamid.in".into(), emoji: "👍".into() };

    assert_eq!(reaction.as_plain_text(), "👍");
    assert_eq!(reaction.char_len(), 1);
    assert_eq!(OutboundContent::text("Ação").char_len(), 4);
}

#[test]
fn a_named_template_parameter_keeps_its_name_through_storage_and_a_positional_one_has_none() {
    let named = TemplateParameter::Text { text: "Ana".into(), parameter_name: Some("first_name".into()) };
    let positional = TemplateParameter::text("#1042");

    let stored_named = serde_json::to_value(&named).unwrap();
    let stored_positional = serde_json::to_value(&positional).unwrap();

    assert_eq!(stored_named, serde_json::json!({"text": "Ana", "parameter_name": "first_name"}));
    assert_eq!(stored_positional, serde_json::json!({"text": "#1042"}));
    assert_eq!(serde_json::from_value::<TemplateParameter>(stored_named).unwrap(), named);
    assert_eq!(serde_json::from_value::<TemplateParameter>(stored_positional).unwrap(), positional);
}
