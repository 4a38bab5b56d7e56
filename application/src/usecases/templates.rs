//! The templates an operator may send once a conversation's 24-hour window has closed:
//! the account's approved ones (when the account is known and WhatsApp answers) and the
//! configured re-engagement template; and the check that a template is sent with as many
//! body parameters as it has placeholders.

use std::sync::Arc;

use switchboard_domain::{OutboundContent, TemplateComponent, TemplateParameter};

use super::TemplateConfig;
use crate::ports::{ApprovedTemplate, TemplateSource, Templates, TemplatesError};

/// What the console and `GET /api/v1/templates` offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOffer {
    /// The configured template first, then the others by name and language.
    pub templates: Vec<ApprovedTemplate>,
    /// Why the account's own list is not part of the offer, for people to read.
    pub note: Option<String>,
}

/// A template sent with values that do not fit it. Each message names the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateMismatch {
    #[error("template {template} takes {} ({}); {given} given", parameters(.expected), braces(.placeholders))]
    ParameterCount { template: String, expected: usize, given: usize, placeholders: Vec<String> },
    #[error("template {template}: body parameter {{{{{placeholder}}}}} is empty")]
    EmptyParameter { template: String, placeholder: String },
    #[error("template {template} has named body parameters ({}); {given} given", braces(.placeholders))]
    ParameterNames { template: String, placeholders: Vec<String>, given: String },
}

fn parameters(n: &usize) -> String {
    match *n {
        0 => String::from("no body parameters"),
        1 => String::from("1 body parameter"),
        n => format!("{n} body parameters"),
    }
}

fn braces(placeholders: &[String]) -> String {
    if placeholders.is_empty() {
        return String::from("none");
    }
    placeholders.iter().map(|p| format!("{{{{{p}}}}}")).collect::<Vec<_>>().join(", ")
}

pub struct TemplateCatalogue {
    /// The account's list; `None` when the account is not known (no WABA id).
    source: Option<Arc<dyn Templates>>,
    configured: Option<ApprovedTemplate>,
}

impl TemplateCatalogue {
    /// `configured`: the re-engagement template, offered whatever WhatsApp says (its
    /// one parameter is the user's name when `name_param` is set).
    pub fn new(source: Option<Arc<dyn Templates>>, configured: Option<&TemplateConfig>) -> Self {
        let configured = configured.map(|t| ApprovedTemplate {
            name: t.name.clone(),
            language: t.language.clone(),
            category: String::new(),
            body: None,
            parameters: if t.name_param { vec![String::from("1")] } else { Vec::new() },
            source: TemplateSource::Configured,
        });
        Self { source, configured }
    }

    /// The templates to offer. A failure of WhatsApp's list is logged and becomes the
    /// note; the configured template is offered all the same.
    #[tracing::instrument(name = "templates.offer", skip_all)]
    pub async fn offer(&self) -> TemplateOffer {
        let (mut templates, note) = match &self.source {
            None => (
                Vec::new(),
                Some(String::from(
                    "Only the configured template is offered: set WHATSAPP_BUSINESS_ACCOUNT_ID to offer every approved template of the account.",
                )),
            ),
            Some(source) => match source.approved().await {
                Ok(found) => (found, None),
                Err(e) => {
                    tracing::warn!(error = %e, "the approved templates could not be listed");
                    (Vec::new(), Some(failure_note(&e, self.configured.is_some())))
                }
            },
        };
        templates.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
        if let Some(configured) = &self.configured {
            let same = |t: &ApprovedTemplate| t.name == configured.name && t.language == configured.language;
            // WhatsApp's own entry knows the body text: it wins, first in the list.
            let first = match templates.iter().position(same) {
                Some(i) => templates.remove(i),
                None => configured.clone(),
            };
            templates.insert(0, first);
        }
        TemplateOffer { templates, note }
    }

    /// The offered template of that name and language.
    pub async fn find(&self, name: &str, language: &str) -> Option<ApprovedTemplate> {
        self.offer().await.templates.into_iter().find(|t| t.name == name && t.language == language)
    }

    /// The template message for `values`, one per body placeholder in order; named
    /// parameters carry their names. A template not offered gets positional values.
    pub async fn compose(&self, name: &str, language: &str, values: Vec<String>) -> OutboundContent {
        let known = self.find(name, language).await;
        let names = known.filter(ApprovedTemplate::named_parameters).map(|t| t.parameters).unwrap_or_default();
        let parameters: Vec<TemplateParameter> = values
            .into_iter()
            .enumerate()
            .map(|(i, text)| TemplateParameter::Text { text, parameter_name: names.get(i).cloned() })
            .collect();
        let components = if parameters.is_empty() {
            Vec::new()
        } else {
            vec![TemplateComponent { kind: String::from("body"), sub_type: None, index: None, parameters }]
        };
        OutboundContent::Template { name: name.to_owned(), language: language.to_owned(), components }
    }

    /// A template offered here must come with one body parameter per placeholder, none
    /// empty (and for named parameters, each name once). Anything else, and a template
    /// not offered (the list may be older than a new approval), is left to WhatsApp.
    ///
    /// Errors: [`TemplateMismatch`], naming the template.
    pub async fn check(&self, content: &OutboundContent) -> Result<(), TemplateMismatch> {
        let OutboundContent::Template { name, language, components } = content else {
            return Ok(());
        };
        let Some(template) = self.find(name, language).await else {
            tracing::info!(template = %name, %language, "template not in the offered list; left to WhatsApp");
            return Ok(());
        };
        let given: Vec<&TemplateParameter> = components
            .iter()
            .filter(|c| c.kind.eq_ignore_ascii_case("body"))
            .flat_map(|c| c.parameters.iter())
            .collect();
        if given.len() != template.parameters.len() {
            return Err(TemplateMismatch::ParameterCount {
                template: template.label(),
                expected: template.parameters.len(),
                given: given.len(),
                placeholders: template.parameters.clone(),
            });
        }
        for (placeholder, parameter) in template.parameters.iter().zip(&given) {
            if let TemplateParameter::Text { text, .. } = parameter
                && text.trim().is_empty()
            {
                return Err(TemplateMismatch::EmptyParameter {
                    template: template.label(),
                    placeholder: placeholder.clone(),
                });
            }
        }
        if template.named_parameters() {
            let mut names: Vec<String> = given
                .iter()
                .map(|p| match p {
                    TemplateParameter::Text { parameter_name, .. } => parameter_name.clone().unwrap_or_default(),
                    TemplateParameter::Other(raw) => {
                        raw.get("parameter_name").and_then(|n| n.as_str()).unwrap_or_default().to_owned()
                    }
                })
                .collect();
            let mut expected = template.parameters.clone();
            names.sort();
            expected.sort();
            if names != expected {
                let given = names.iter().map(|n| if n.is_empty() { "(no name)" } else { n }).collect::<Vec<_>>();
                return Err(TemplateMismatch::ParameterNames {
                    template: template.label(),
                    placeholders: template.parameters.clone(),
                    given: given.join(", "),
                });
            }
        }
        Ok(())
    }
}

fn failure_note(e: &TemplatesError, configured: bool) -> String {
    let why = match e {
        TemplatesError::Refused { code: 0 | 190, .. } => {
            String::from("WhatsApp refused the access token (error 190: expired or invalid)")
        }
        TemplatesError::Refused { code, .. } => format!("WhatsApp answered error {code}"),
        TemplatesError::Unreachable(_) => String::from("WhatsApp could not be reached"),
    };
    let then = if configured { "only the configured template is offered" } else { "no template can be offered" };
    format!("The approved templates could not be loaded ({why}): {then}. Try again in a few minutes.")
}

#[cfg(test)]
mod tests;
