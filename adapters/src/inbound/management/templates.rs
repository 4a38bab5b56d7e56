//! `GET /api/v1/templates`: the approved templates an operator (or an API client
//! answering as one) may send once a conversation's 24-hour window has closed, with the
//! body parameters each takes.

use switchboard_application::ports::ApprovedTemplate;

use super::*;

/// One approved template.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateItem {
    #[schema(example = "order_update")]
    pub name: String,
    /// Its language code; a template is approved per language.
    #[schema(example = "en_US")]
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`; empty when unknown (the configured template).
    #[schema(example = "UTILITY")]
    pub category: String,
    /// The body text with its placeholders, when known.
    #[schema(example = "Hi {{1}}, your order {{2}} has shipped.")]
    pub body: Option<String>,
    /// How many body parameters it takes: send exactly this many, in order, as the
    /// `parameters` of one `body` component.
    pub body_parameters: usize,
    /// The placeholders in order, without braces: `1`, `2`... or names (`first_name`) for
    /// a template with named parameters, whose values must then carry `parameter_name`.
    #[schema(example = json!(["1", "2"]))]
    pub placeholders: Vec<String>,
    /// `whatsapp` (the account's list), `configured` (the re-engagement template) or `sandbox`.
    #[schema(example = "whatsapp")]
    pub source: String,
}

impl From<&ApprovedTemplate> for TemplateItem {
    fn from(t: &ApprovedTemplate) -> Self {
        Self {
            name: t.name.clone(),
            language: t.language.clone(),
            category: t.category.clone(),
            body: t.body.clone(),
            body_parameters: t.parameters.len(),
            placeholders: t.parameters.clone(),
            source: t.source.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateList {
    /// The configured template first, then the others by name and language.
    pub items: Vec<TemplateItem>,
    /// Why the account's own list is missing (WhatsApp refused it or could not be
    /// reached, or no account id is configured); absent when it is included.
    pub note: Option<String>,
}

/// `GET /api/v1/templates`
#[utoipa::path(get, path = "/api/v1/templates", tag = "People", security(("api_key" = [])),
    summary = "List the approved templates operators may send",
    description = "The WhatsApp account's approved message templates (`WHATSAPP_BUSINESS_ACCOUNT_ID`, read from Meta and cached for `SWITCHBOARD_TEMPLATES_CACHE_SECS`), with the configured re-engagement template first; sandbox mode offers a short list of its own. Each says how many body parameters it takes: `POST /api/v1/conversations/{id}/reply` refuses a listed template sent with another number, naming the template. When Meta cannot be asked (an expired token, say), the answer is still 200, with the configured template only and a `note` saying why.",
    responses((status = 200, description = "the templates, and a note when the account's list is missing", body = TemplateList), (status = 401, description = "no or wrong API key")))]
#[tracing::instrument(skip_all, name = "management.templates")]
pub async fn list_templates(state: web::Data<ManagementState>) -> HttpResponse {
    let offer = state.templates.offer().await;
    HttpResponse::Ok()
        .json(TemplateList { items: offer.templates.iter().map(TemplateItem::from).collect(), note: offer.note })
}
