//! The Admin view's Agents card: every agent Switchboard calls, with whether it is up.
//!
//! Agents found by their cards (configured by URL alone, or registered at run time with
//! `POST /api/v1/agents`) come from the `AgentDirectory` port, as `GET /api/v1/status`
//! shows them in `health.agents`: up when their card was fetched at the last refresh,
//! with its skills and bindings; down otherwise (their skills are not routed to). Agents
//! configured with intents are routed to whatever their card says, so no card is fetched
//! for them: the card says so rather than guess.

use maud::{Markup, html};
use switchboard_application::ports::AgentHealth;

use crate::inbound::management::AgentSummary;

/// The card's content: the directory's agents first, then the configured agents with
/// intents that the directory does not know.
pub fn card(directory: &[AgentHealth], configured: &[AgentSummary]) -> Markup {
    let by_intents: Vec<&AgentSummary> =
        configured.iter().filter(|c| !c.intents.is_empty() && directory.iter().all(|a| a.name != c.name)).collect();
    let down = directory.iter().filter(|a| !a.up).count();
    html! {
        @if directory.is_empty() && by_intents.is_empty() {
            p.muted { "No agent is configured or registered: the built-in agents answer." }
        } @else {
            p data-testid="agents-summary" {
                (directory.len() - down) " up, " (down) " down"
                @if !by_intents.is_empty() { ", " (by_intents.len()) " routed by configured intents" }
                "."
            }
            ul.plain.agents {
                @for agent in directory { (found_by_card(agent)) }
                @for agent in by_intents { (routed_by_intents(agent)) }
            }
        }
        p.muted { "Cards are fetched again every card TTL. Calls to each agent, by outcome: "
            code { "switchboard_agent_call_duration_seconds" } " in /metrics." }
    }
}

fn found_by_card(agent: &AgentHealth) -> Markup {
    let state = if agent.up { "up" } else { "down" };
    html! {
        li.agent data-agent=(agent.name) data-state=(state) {
            strong { (agent.name) } " "
            // The word carries the state; the colour only repeats it.
            span class=(format!("agent-state {state}")) data-testid="agent-state" { (state) }
            br;
            span.muted.url { (agent.url) }
            @if agent.up {
                dl {
                    dt { "Skills" } dd data-testid="agent-skills" {
                        @if agent.skills.is_empty() { "none" } @else { (agent.skills.len()) ": " (agent.skills.join(", ")) }
                    }
                    dt { "Bindings" } dd { @if agent.bindings.is_empty() { "none listed" } @else { (agent.bindings.join(", ")) } }
                }
            } @else {
                p.muted { "Its card could not be fetched at the last refresh: its skills are not routed to." }
            }
        }
    }
}

fn routed_by_intents(agent: &AgentSummary) -> Markup {
    html! {
        li.agent data-agent=(agent.name) data-state="not-checked" {
            strong { (agent.name) } " "
            span.agent-state data-testid="agent-state" { "not checked" }
            br;
            span.muted.url { (agent.url) }
            dl {
                dt { "Intents" } dd { (agent.intents.join(", ")) }
            }
            p.muted { "Routed by its configured intents: no card is fetched for it." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, up: bool) -> AgentHealth {
        AgentHealth {
            name: name.to_owned(),
            url: format!("https://{name}.internal/a2a"),
            up,
            skills: if up { vec![String::from("forecast"), String::from("alerts")] } else { Vec::new() },
            bindings: if up { vec![String::from("JSONRPC 1.0")] } else { Vec::new() },
        }
    }

    fn configured(name: &str, intents: &[&str]) -> AgentSummary {
        AgentSummary {
            name: name.to_owned(),
            url: format!("https://{name}.internal"),
            intents: intents.iter().map(|i| (*i).to_owned()).collect(),
        }
    }

    #[test]
    fn an_agent_up_shows_its_skills_and_bindings_and_one_down_says_so_in_words() {
        let page = card(&[found("weather", true), found("orders", false)], &[]).into_string();

        assert!(page.contains("1 up, 1 down."), "{page}");
        assert!(page.contains(r#"data-agent="weather" data-state="up""#), "{page}");
        assert!(page.contains("2: forecast, alerts") && page.contains("JSONRPC 1.0"), "{page}");
        assert!(page.contains(r#"data-agent="orders" data-state="down""#), "{page}");
        assert!(page.contains(r#"data-testid="agent-state">down<"#), "{page}");
        assert!(page.contains("https://orders.internal/a2a"), "{page}");
    }

    #[test]
    fn a_configured_agent_with_intents_is_listed_once_as_not_checked() {
        let page = card(
            &[found("weather", true)],
            &[configured("billing", &["billing", "refund"]), configured("weather", &[])],
        )
        .into_string();

        assert!(page.contains(r#"data-agent="billing" data-state="not-checked""#), "{page}");
        assert!(page.contains("billing, refund"), "{page}");
        assert_eq!(page.matches(r#"data-agent="weather""#).count(), 1, "{page}");
        assert!(page.contains("1 routed by configured intents"), "{page}");
    }

    #[test]
    fn without_any_agent_the_card_says_the_built_in_agents_answer() {
        let page = card(&[], &[]).into_string();

        assert!(page.contains("the built-in agents answer"), "{page}");
    }
}
