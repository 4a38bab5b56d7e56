use super::*;
use crate::ports::MockTemplates;

fn approved(name: &str, language: &str, body: &str) -> ApprovedTemplate {
    ApprovedTemplate {
        name: name.into(),
        language: language.into(),
        category: String::from("UTILITY"),
        body: Some(body.into()),
        parameters: crate::ports::placeholders(body),
        source: TemplateSource::Whatsapp,
    }
}

fn listing(templates: Vec<ApprovedTemplate>) -> Option<Arc<dyn Templates>> {
    let mut source = MockTemplates::new();
    source.expect_approved().returning(move || Ok(templates.clone()));
    Some(Arc::new(source))
}

fn failing(error: TemplatesError) -> Option<Arc<dyn Templates>> {
    let mut source = MockTemplates::new();
    source.expect_approved().returning(move || Err(error.clone()));
    Some(Arc::new(source))
}

fn welcome_back() -> TemplateConfig {
    TemplateConfig { name: "welcome_back".into(), language: "en_US".into(), name_param: true }
}

fn body(values: &[&str]) -> Vec<TemplateComponent> {
    vec![TemplateComponent {
        kind: "body".into(),
        sub_type: None,
        index: None,
        parameters: values.iter().map(|v| TemplateParameter::text(*v)).collect(),
    }]
}

fn template(name: &str, components: Vec<TemplateComponent>) -> OutboundContent {
    OutboundContent::Template { name: name.into(), language: "en_US".into(), components }
}

#[tokio::test]
async fn the_configured_template_comes_first_and_whatsapps_entry_for_it_wins() {
    let catalogue = TemplateCatalogue::new(
        listing(vec![
            approved("order_update", "en_US", "Your order {{1}} ships {{2}}."),
            approved("welcome_back", "en_US", "Welcome back, {{1}}!"),
            approved("appointment", "de", "Ihr Termin am {{1}}."),
        ]),
        Some(&welcome_back()),
    );

    let offer = catalogue.offer().await;

    let names: Vec<String> = offer.templates.iter().map(ApprovedTemplate::label).collect();
    assert_eq!(names, ["welcome_back (en_US)", "appointment (de)", "order_update (en_US)"]);
    assert_eq!(offer.templates[0].body.as_deref(), Some("Welcome back, {{1}}!"));
    assert_eq!(offer.note, None);
}

#[tokio::test]
async fn an_expired_token_offers_the_configured_template_with_a_note_that_says_why() {
    let catalogue = TemplateCatalogue::new(
        failing(TemplatesError::Refused { code: 190, message: "Session has expired".into() }),
        Some(&welcome_back()),
    );

    let offer = catalogue.offer().await;

    assert_eq!(offer.templates.len(), 1);
    assert_eq!(offer.templates[0].source, TemplateSource::Configured);
    assert_eq!(offer.templates[0].parameters, ["1"]);
    let note = offer.note.unwrap();
    assert!(note.contains("error 190") && note.contains("only the configured template"), "{note}");
}

#[tokio::test]
async fn without_the_account_id_only_the_configured_template_is_offered_and_the_note_names_the_key() {
    let catalogue = TemplateCatalogue::new(None, Some(&welcome_back()));

    let offer = catalogue.offer().await;

    assert_eq!(offer.templates.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["welcome_back"]);
    assert!(offer.note.unwrap().contains("WHATSAPP_BUSINESS_ACCOUNT_ID"));
}

#[tokio::test]
async fn a_template_with_too_few_body_parameters_is_refused_naming_the_template_and_its_placeholders() {
    let catalogue =
        TemplateCatalogue::new(listing(vec![approved("order_update", "en_US", "Your order {{1}} ships {{2}}.")]), None);

    let refused = catalogue.check(&template("order_update", body(&["#1042"]))).await.unwrap_err();
    let none = catalogue.check(&template("order_update", Vec::new())).await.unwrap_err();

    assert_eq!(refused.to_string(), "template order_update (en_US) takes 2 body parameters ({{1}}, {{2}}); 1 given");
    assert!(none.to_string().ends_with("; 0 given"), "{none}");
}

#[tokio::test]
async fn a_template_with_its_parameters_passes_and_one_not_offered_is_left_to_whatsapp() {
    let catalogue =
        TemplateCatalogue::new(listing(vec![approved("order_update", "en_US", "Your order {{1}} ships {{2}}.")]), None);

    let fitting = catalogue.check(&template("order_update", body(&["#1042", "today"]))).await;
    let unknown = catalogue.check(&template("brand_new", body(&["x"]))).await;
    let text = catalogue.check(&OutboundContent::text("hello")).await;

    assert_eq!(fitting, Ok(()));
    assert_eq!(unknown, Ok(()));
    assert_eq!(text, Ok(()));
}

#[tokio::test]
async fn an_empty_body_parameter_is_refused_naming_its_placeholder() {
    let catalogue =
        TemplateCatalogue::new(listing(vec![approved("order_update", "en_US", "Your order {{1}} ships {{2}}.")]), None);

    let refused = catalogue.check(&template("order_update", body(&["#1042", "  "]))).await.unwrap_err();

    assert_eq!(refused.to_string(), "template order_update (en_US): body parameter {{2}} is empty");
}

#[tokio::test]
async fn values_for_a_named_template_carry_their_names_and_pass_the_check() {
    let catalogue = TemplateCatalogue::new(
        listing(vec![approved("order_named", "en_US", "Hi {{first_name}}, order {{order_id}} shipped.")]),
        None,
    );

    let content = catalogue.compose("order_named", "en_US", vec!["Ana".into(), "#1042".into()]).await;
    let unnamed = template("order_named", body(&["Ana", "#1042"]));

    let OutboundContent::Template { components, .. } = &content else { panic!("{content:?}") };
    assert_eq!(
        components[0].parameters[1],
        TemplateParameter::Text { text: "#1042".into(), parameter_name: Some("order_id".into()) }
    );
    assert_eq!(catalogue.check(&content).await, Ok(()));
    assert!(matches!(catalogue.check(&unnamed).await, Err(TemplateMismatch::ParameterNames { .. })));
}

#[tokio::test]
async fn a_template_composed_without_values_has_no_components() {
    let catalogue = TemplateCatalogue::new(None, None);

    let content = catalogue.compose("hello_world", "en_US", Vec::new()).await;

    assert_eq!(content, template("hello_world", Vec::new()));
}
