//! The reply form once the 24-hour window has closed: a select of the approved
//! templates (name and language), the chosen one's body text, and one labelled input per
//! body parameter (`{{1}}`, `{{2}}`... or its name), sent as the body component.
//!
//! Without script, "Show its fields" reloads the page with `?template=KEY` and the
//! chosen template's fields; with it, the select swaps them in place (`console.js`).
//! Only the chosen template's fieldset is enabled, so only its values are sent.

use std::collections::BTreeMap;

use maud::{Markup, html};
use switchboard_application::ports::ApprovedTemplate;
use switchboard_application::usecases::TemplateOffer;

/// Parameter inputs read at most (a template body rarely has more than a handful).
const MAX_PARAMETERS: usize = 50;

/// How a template is named in the form: `name:language`.
pub fn key(t: &ApprovedTemplate) -> String {
    format!("{}:{}", t.name, t.language)
}

/// `name:language` back to its parts.
pub fn parse_key(key: &str) -> Option<(&str, &str)> {
    let (name, language) = key.trim().split_once(':')?;
    (!name.trim().is_empty() && !language.trim().is_empty()).then(|| (name.trim(), language.trim()))
}

/// The values of `param_1`, `param_2`... in order, up to the first missing one.
pub fn values(fields: &BTreeMap<String, String>) -> Vec<String> {
    (1..=MAX_PARAMETERS).map_while(|i| fields.get(&format!("param_{i}")).cloned()).collect()
}

/// The closed-window reply form. `page`: the conversation page (the no-script chooser
/// reloads it); `chosen`: `?template=` of the page, else the first template (the
/// configured one when there is one).
pub fn reply_form(offer: &TemplateOffer, page: &str, reply: &str, csrf: &str, chosen: Option<&str>) -> Markup {
    let chosen = offer
        .templates
        .iter()
        .map(key)
        .find(|k| Some(k.as_str()) == chosen)
        .or_else(|| offer.templates.first().map(key));
    html! {
        p { "The 24-hour window is closed: WhatsApp only takes an approved template now." }
        @if let Some(note) = &offer.note {
            p.muted role="note" data-testid="templates-note" { (note) }
        }
        @if let Some(chosen) = chosen {
            form.choose method="get" action=(page) {
                label for="template" { "Approved template" }
                select #template name="template" data-template-picker {
                    @for t in &offer.templates {
                        option value=(key(t)) selected[key(t) == chosen] { (t.name) " (" (t.language) ")" }
                    }
                }
                button.quiet data-script-hides type="submit" { "Show its fields" }
            }
            form.reply method="post" action=(reply) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="template" value=(chosen) data-template-chosen;
                @for (n, t) in offer.templates.iter().enumerate() {
                    (fields(n, t, key(t) == chosen))
                }
                button type="submit" { "Send" }
            }
        } @else {
            p { "No approved template is known, so nothing can be sent until the user writes again." }
        }
    }
}

/// One template's body and parameter inputs; disabled (so not sent) unless chosen.
fn fields(n: usize, t: &ApprovedTemplate, chosen: bool) -> Markup {
    html! {
        fieldset.template data-template=(key(t)) hidden[!chosen] disabled[!chosen] {
            legend { (t.name) " (" (t.language) ")"
                @if !t.category.is_empty() { " · " span.muted { (t.category.to_lowercase()) } } }
            @match &t.body {
                Some(body) => p.template-body data-testid="template-body" { (body) },
                None => p.muted { "Its text is not known here (the configured re-engagement template)." },
            }
            @if t.parameters.is_empty() {
                p.muted { "It takes no parameters." }
            }
            @for (i, placeholder) in t.parameters.iter().enumerate() {
                @let id = format!("template-{n}-param-{}", i + 1);
                label for=(id) { "Value for {{" (placeholder) "}}" }
                input id=(id) type="text" name=(format!("param_{}", i + 1)) required maxlength="1024" autocomplete="off";
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use switchboard_application::ports::TemplateSource;

    use super::*;

    fn template(name: &str, body: Option<&str>, parameters: &[&str]) -> ApprovedTemplate {
        ApprovedTemplate {
            name: name.into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            body: body.map(str::to_owned),
            parameters: parameters.iter().map(|p| (*p).to_owned()).collect(),
            source: TemplateSource::Whatsapp,
        }
    }

    #[test]
    fn the_chosen_template_shows_its_body_and_one_labelled_input_per_parameter_and_the_others_are_disabled() {
        let offer = TemplateOffer {
            templates: vec![
                template("welcome_back", None, &["1"]),
                template("order_update", Some("Hi {{1}}, order {{2}} shipped."), &["1", "2"]),
            ],
            note: None,
        };

        let html = reply_form(
            &offer,
            "/console/conversations/x",
            "/console/conversations/x/reply",
            "t",
            Some("order_update:en_US"),
        )
        .into_string();

        assert!(
            html.contains(r#"<option value="order_update:en_US" selected>order_update (en_US)</option>"#),
            "{html}"
        );
        assert!(html.contains(r#"name="template" value="order_update:en_US""#), "{html}");
        assert!(
            html.contains(r#"<fieldset class="template" data-template="welcome_back:en_US" hidden disabled>"#),
            "{html}"
        );
        assert!(html.contains(r#"<fieldset class="template" data-template="order_update:en_US">"#), "{html}");
        assert!(html.contains(r#"<label for="template-1-param-2">Value for {{2}}</label>"#), "{html}");
        assert!(html.contains(r#"name="param_2" required"#), "{html}");
        assert!(html.contains("Hi {{1}}, order {{2}} shipped."), "{html}");
    }

    #[test]
    fn a_note_is_shown_and_without_any_template_there_is_no_form_to_send() {
        let offer = TemplateOffer { templates: Vec::new(), note: Some("WhatsApp refused".into()) };

        let html = reply_form(&offer, "/p", "/p/reply", "t", None).into_string();

        assert!(html.contains("WhatsApp refused"), "{html}");
        assert!(!html.contains("<form"), "{html}");
    }

    #[test]
    fn parameters_are_read_in_order_up_to_the_first_gap_and_a_key_splits_into_name_and_language() {
        let fields: BTreeMap<String, String> =
            [("param_1", "Ana"), ("param_2", "#1042"), ("param_4", "lost")].map(|(k, v)| (k.into(), v.into())).into();

        assert_eq!(values(&fields), ["Ana", "#1042"]);
        assert_eq!(parse_key(" order_update:en_US "), Some(("order_update", "en_US")));
        assert_eq!(parse_key("order_update"), None);
        assert_eq!(parse_key(":en"), None);
    }
}
