//! The page shell: one document for every console page (language, viewport for phones,
//! the embedded stylesheet and script), and the signed-in frame around a view (skip
//! link, navigation, who is signed in, sign out as a POST form with its CSRF token).

use maud::{DOCTYPE, Markup, html};

use super::SignedIn;
use super::assets;
use crate::inbound::errors::ErrorCode;

/// A whole HTML document around `content`.
pub fn document(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · Switchboard" }
                link rel="stylesheet" href=(assets::url("console.css"));
                script src=(assets::url("console.js")) defer {}
            }
            body { (content) }
        }
    }
}

/// A signed-in page: `body` inside the console's frame. The navigation marks the page
/// the operator is on, shows Admin to admins only, and signs out with a POST that
/// carries the session's CSRF token.
pub fn page(title: &str, who: &SignedIn, body: Markup) -> Markup {
    let current = |path: &str| (who.path == path).then_some("page");
    document(
        title,
        html! {
            a.skip-link href="#main" { "Skip to main content" }
            header.topbar {
                span.brand { "Switchboard" }
                nav aria-label="Console" {
                    ul {
                        li { a href="/console" aria-current=[current("/console")] { "Inbox" } }
                        @if who.role.is_admin() {
                            li { a href="/console/admin" aria-current=[current("/console/admin")] { "Admin" } }
                        }
                    }
                }
                div.who {
                    span aria-label="Signed in as" data-testid="operator-name" { (who.name) }
                    span.role data-testid="operator-role" { (who.role) }
                    form.inline method="post" action="/console/sign-out" {
                        input type="hidden" name="csrf" value=(who.csrf);
                        button.quiet type="submit" { "Sign out" }
                    }
                }
            }
            main #main tabindex="-1" { (body) }
        },
    )
}

/// The sign-in page: `error` above the form when the last attempt failed, `name` kept.
pub fn sign_in_page(csrf: &str, name: &str, error: Option<&str>) -> Markup {
    document(
        "Sign in",
        html! {
            a.skip-link href="#main" { "Skip to main content" }
            main #main tabindex="-1" {
                div.card.sign-in {
                    h1 { "Sign in to Switchboard" }
                    @if let Some(error) = error {
                        p.error #sign-in-error role="alert" { (error) }
                    }
                    form method="post" action="/console/sign-in" {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="name" { "Name" }
                        input #name type="text" name="name" value=(name) autocomplete="username" autocapitalize="none"
                            spellcheck="false" required autofocus[name.is_empty()]
                            aria-describedby=[error.map(|_| "sign-in-error")];
                        label for="password" { "Password" }
                        input #password type="password" name="password" autocomplete="current-password" required
                            autofocus[!name.is_empty()];
                        button type="submit" { "Sign in" }
                    }
                }
            }
        },
    )
}

/// A readable page for a refused or failed console request.
pub fn error_page(code: ErrorCode, message: &str, trace_id: &str) -> Markup {
    let title = match code {
        ErrorCode::Forbidden => "Not allowed",
        ErrorCode::CsrfRejected => "Form expired",
        ErrorCode::TooManyAttempts => "Too many attempts",
        ErrorCode::NotFound => "Not found",
        _ => "Something went wrong",
    };
    document(
        title,
        html! {
            main #main {
                div.card {
                    h1 { (title) }
                    p data-code=(code.as_str()) { (message) }
                    @if code == ErrorCode::CsrfRejected {
                        p { "Nothing was changed. Go back, reload the page and try again." }
                    }
                    p { a href="/console" { "Back to the console" } }
                    @if !trace_id.is_empty() {
                        p.trace { "Trace id: " (trace_id) }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::{OperatorName, Role};

    fn who(role: Role) -> SignedIn {
        SignedIn {
            name: OperatorName::parse("ana").unwrap(),
            role,
            csrf: String::from("token-123"),
            path: String::from("/console"),
            json: false,
        }
    }

    #[test]
    fn a_page_has_a_language_a_viewport_a_skip_link_and_a_sign_out_form_with_the_csrf_token() {
        let page = page("Inbox", &who(Role::Operator), html! { h1 { "Inbox" } }).into_string();

        assert!(page.starts_with("<!DOCTYPE html><html lang=\"en\">"), "{page}");
        assert!(page.contains("name=\"viewport\" content=\"width=device-width, initial-scale=1\""));
        assert!(page.contains("<a class=\"skip-link\" href=\"#main\">"));
        assert!(page.contains("<main id=\"main\" tabindex=\"-1\">"));
        assert!(page.contains("action=\"/console/sign-out\""));
        assert!(page.contains("name=\"csrf\" value=\"token-123\""));
        assert!(page.contains("href=\"/console\" aria-current=\"page\""));
        assert!(!page.contains("/console/admin"), "an operator sees no Admin link");
    }

    #[test]
    fn an_admin_sees_the_admin_link() {
        let page = page("Inbox", &who(Role::Admin), html! {}).into_string();

        assert!(page.contains("href=\"/console/admin\""));
    }

    #[test]
    fn text_is_escaped_and_every_sign_in_control_has_a_label() {
        let page = sign_in_page("t", "<script>", Some("wrong & refused")).into_string();

        assert!(page.contains("value=\"&lt;script&gt;\""), "{page}");
        assert!(page.contains("wrong &amp; refused"));
        assert!(page.contains("<label for=\"name\">") && page.contains("id=\"name\""));
        assert!(page.contains("<label for=\"password\">") && page.contains("id=\"password\""));
        assert!(page.contains("role=\"alert\""));
    }
}
