use proptest::prelude::*;
use serde_json::json;

use super::*;

fn options(titles: &[&str]) -> Vec<ChoiceOption> {
    titles
        .iter()
        .enumerate()
        .map(|(i, t)| ChoiceOption { id: format!("o{i}"), title: (*t).into(), description: None, section: None })
        .collect()
}

fn choices(titles: &[&str]) -> Choices {
    Choices { style: ChoiceStyle::Auto, button: None, options: options(titles) }
}

fn image() -> ReplyFile {
    ReplyFile {
        kind: MediaKind::Image,
        source: MediaSource::Stored { key: MediaKey::parse("out/x/0").unwrap(), mime_type: "image/png".into() },
        filename: Some("plan.png".into()),
    }
}

#[test]
fn choices_are_read_from_a_data_part_and_a_malformed_one_is_named() {
    let part = json!({"choices": {"options": [{"id": "a", "title": "Yes"}]}});

    assert_eq!(
        choices_in(&part).unwrap().unwrap(),
        Choices {
            style: ChoiceStyle::Auto,
            button: None,
            options: vec![ChoiceOption { id: "a".into(), title: "Yes".into(), description: None, section: None }],
        }
    );
    assert!(choices_in(&json!({"choices": {"options": "no"}})).unwrap().unwrap_err().starts_with("choices:"));
    assert!(choices_in(&json!({"intent": "x"})).is_none());
}

#[test]
fn an_image_text_and_three_choices_become_one_button_message_with_the_image_as_header() {
    let composed = compose("Which slot suits you?", vec![image()], Some(&choices(&["Morning", "Noon", "Evening"])));

    assert_eq!(composed.choices_as_text, None);
    assert_eq!(composed.messages.len(), 1);
    let OutboundContent::Buttons { body, buttons, media_header, .. } = &composed.messages[0] else {
        panic!("{:?}", composed.messages)
    };
    assert_eq!(body, "Which slot suits you?");
    assert_eq!(buttons.len(), 3);
    assert_eq!(media_header.as_ref().unwrap().media, MediaKind::Image);
}

#[test]
fn four_choices_become_a_list_and_the_image_goes_before_it_with_no_caption_left() {
    let composed = compose("Pick a size", vec![image()], Some(&choices(&["S", "M", "L", "XL"])));

    assert_eq!(composed.messages.len(), 2);
    assert!(matches!(&composed.messages[0], OutboundContent::Media { caption: None, .. }));
    let OutboundContent::List { body, sections, .. } = &composed.messages[1] else { panic!("{:?}", composed.messages) };
    assert_eq!(body, "Pick a size");
    assert_eq!(sections[0].rows.len(), 4);
}

#[test]
fn choices_that_fit_no_interactive_message_go_as_numbered_text_naming_the_limit() {
    let titles: Vec<String> = (1..=11).map(|i| format!("Option {i}")).collect();
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();

    let composed = compose("Which one?", vec![], Some(&choices(&titles)));

    assert_eq!(composed.choices_as_text, Some(ContentError::TooMany { what: "list rows", actual: 11, limit: 10 }));
    let OutboundContent::Text { body, .. } = &composed.messages[0] else { panic!() };
    assert!(body.starts_with("Which one?\n\n1. Option 1\n"), "{body}");
    assert!(body.ends_with("11. Option 11"), "{body}");
}

#[test]
fn asked_for_buttons_with_a_title_over_20_characters_is_refused_naming_the_limit() {
    let mut offered = choices(&["A title much too long for a button"]);
    offered.style = ChoiceStyle::Buttons;

    assert_eq!(
        offered.to_content("Pick", None),
        Err(ContentError::TooLong { what: "button title", actual: 34, limit: 20 })
    );
}

#[test]
fn choices_with_descriptions_or_sections_become_a_list_with_titled_sections() {
    let mut offered = choices(&["Pizza", "Salad"]);
    offered.options[0].section = Some("Mains".into());
    offered.options[1].description = Some("Green".into());

    let content = offered.to_content("Hungry?", None).unwrap();

    let OutboundContent::List { sections, button_label, .. } = content else { panic!() };
    assert_eq!(button_label, "Choose");
    assert_eq!(sections.len(), 2);
    assert_eq!(sections[0].title.as_deref(), Some("Mains"));
    assert_eq!(sections[1].title.as_deref(), Some("Other"));
}

#[test]
fn text_is_the_caption_of_the_first_file_that_may_have_one_else_it_goes_first() {
    let audio =
        ReplyFile { kind: MediaKind::Audio, source: MediaSource::Link("https://x/a.ogg".into()), filename: None };

    let with_image = compose("Your plan", vec![image()], None);
    let with_audio = compose("Listen", vec![audio.clone()], None);

    assert!(matches!(&with_image.messages[..], [OutboundContent::Media { caption: Some(c), .. }] if c == "Your plan"));
    assert!(matches!(
        &with_audio.messages[..],
        [OutboundContent::Text { body, .. }, OutboundContent::Media { caption: None, .. }] if body == "Listen"
    ));
}

#[test]
fn a_long_text_goes_on_its_own_and_the_buttons_ask_with_the_default_prompt() {
    let long = "x".repeat(1100);

    let composed = compose(&long, vec![], Some(&choices(&["Yes", "No"])));

    assert!(matches!(&composed.messages[0], OutboundContent::Text { body, .. } if body.len() == 1100));
    assert!(matches!(&composed.messages[1], OutboundContent::Buttons { body, .. } if body == DEFAULT_PROMPT));
}

#[test]
fn nothing_to_say_still_makes_one_message_whose_validation_says_so() {
    let composed = compose("  ", vec![], None);

    assert_eq!(composed.messages, vec![OutboundContent::text("")]);
    assert!(composed.messages[0].validate().is_err());
}

proptest! {
    #[test]
    fn every_composed_interactive_message_meets_metas_limits(
        titles in proptest::collection::vec("[a-zA-Z]([a-zA-Z ]{0,28}[a-zA-Z])?", 1..14),
        body in "[a-z ]{0,1200}",
        with_image in any::<bool>(),
    ) {
        let mut offered = choices(&titles.iter().map(String::as_str).collect::<Vec<_>>());
        for (i, option) in offered.options.iter_mut().enumerate() {
            option.id = format!("id{i}");
        }
        let files = if with_image { vec![image()] } else { vec![] };

        let composed = compose(&body, files, Some(&offered));

        for message in &composed.messages {
            if !matches!(message, OutboundContent::Text { .. }) {
                prop_assert_eq!(message.validate(), Ok(()), "{:?}", message);
            }
        }
        // Every option is offered somehow: as a button, a row, or a numbered line.
        let shown: String = composed.messages.iter().map(OutboundContent::as_plain_text).collect::<Vec<_>>().join("\n");
        for title in &titles {
            prop_assert!(shown.contains(title.as_str()));
        }
    }
}
