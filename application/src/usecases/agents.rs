//! Agents registered through the management API by URL alone: routed to by their cards
//! like `SWITCHBOARD_AGENTS` entries without intents, shared by every replica.

use std::sync::Arc;

use crate::ports::{AgentDirectory, AgentHealth, RegisteredAgents, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ManageAgentsError {
    /// A field is malformed; the message starts with its name.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// The name is a built-in agent's, a configured one's, or registered already.
    #[error("an agent named {0:?} exists")]
    Exists(String),
    #[error("no registered agent {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct ManageAgents {
    registry: Arc<dyn RegisteredAgents>,
    directory: Arc<dyn AgentDirectory>,
    /// Built-in and configured names: not free to register.
    reserved: Vec<String>,
}

fn invalid(field: &'static str, message: &str) -> ManageAgentsError {
    ManageAgentsError::Invalid { field, message: message.to_owned() }
}

impl ManageAgents {
    pub fn new(registry: Arc<dyn RegisteredAgents>, directory: Arc<dyn AgentDirectory>, reserved: Vec<String>) -> Self {
        Self { registry, directory, reserved }
    }

    /// Registers an agent by URL; its card is fetched at once, and it is routed to by its
    /// skills while its card can be fetched. Answers how it was found.
    ///
    /// Errors: a bad name or URL; a name taken; the store's failure.
    #[tracing::instrument(name = "manage_agents.register", skip_all, fields(agent = name))]
    pub async fn register(&self, name: &str, url: &str) -> Result<AgentHealth, ManageAgentsError> {
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok_name {
            return Err(invalid("name", "1 to 64 characters of a-z, 0-9, - and _"));
        }
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() > 2048
            || url.contains(char::is_whitespace)
        {
            return Err(invalid("url", "an http or https URL (the agent's base, where its card is)"));
        }
        if self.reserved.iter().any(|r| r == name) || !self.registry.register_agent(name, url).await? {
            return Err(ManageAgentsError::Exists(name.to_owned()));
        }
        tracing::info!(agent = name, "agent registered; fetching its card");
        self.directory.refresh().await;
        Ok(self.directory.agents().into_iter().find(|a| a.name == name).unwrap_or(AgentHealth {
            name: name.to_owned(),
            url: String::new(),
            up: false,
            skills: Vec::new(),
            bindings: Vec::new(),
        }))
    }

    /// Removes a registered agent; its skills leave the routes at once.
    ///
    /// Errors: no such registration; the store's failure.
    #[tracing::instrument(name = "manage_agents.unregister", skip_all, fields(agent = name))]
    pub async fn unregister(&self, name: &str) -> Result<(), ManageAgentsError> {
        if !self.registry.unregister_agent(name).await? {
            return Err(ManageAgentsError::NotFound(name.to_owned()));
        }
        self.directory.refresh().await;
        Ok(())
    }

    /// The agents found by their cards, configured and registered, as last seen.
    pub fn list(&self) -> Vec<AgentHealth> {
        self.directory.agents()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockAgentDirectory, MockRegisteredAgents};

    fn manage(registry: MockRegisteredAgents) -> ManageAgents {
        let mut directory = MockAgentDirectory::new();
        directory.expect_refresh().returning(|| ());
        directory.expect_agents().returning(|| {
            vec![AgentHealth {
                name: String::from("weather"),
                url: String::from("http://127.0.0.1:9002"),
                up: true,
                skills: vec![String::from("forecast")],
                bindings: vec![String::from("JSONRPC 1.0")],
            }]
        });
        ManageAgents::new(Arc::new(registry), Arc::new(directory), vec![String::from("fallback")])
    }

    #[tokio::test]
    async fn a_registered_agent_is_answered_as_its_card_shows_it() {
        let mut registry = MockRegisteredAgents::new();
        registry.expect_register_agent().times(1).returning(|_, _| Ok(true));

        let found = manage(registry).register("weather", "http://127.0.0.1:9002").await.unwrap();

        assert!(found.up);
        assert_eq!(found.skills, ["forecast"]);
    }

    #[tokio::test]
    async fn a_bad_name_or_url_or_a_taken_name_is_refused_and_nothing_is_stored() {
        let mut registry = MockRegisteredAgents::new();
        registry.expect_register_agent().withf(|name, _| name == "taken").returning(|_, _| Ok(false));
        let manage = manage(registry);

        let bad_name = manage.register("Weather Agent", "http://a").await.unwrap_err();
        let bad_url = manage.register("weather", "ftp://a").await.unwrap_err();
        let builtin = manage.register("fallback", "http://a").await.unwrap_err();
        let taken = manage.register("taken", "http://a").await.unwrap_err();

        assert!(matches!(bad_name, ManageAgentsError::Invalid { field: "name", .. }));
        assert!(matches!(bad_url, ManageAgentsError::Invalid { field: "url", .. }));
        assert!(matches!(builtin, ManageAgentsError::Exists(_)));
        assert!(matches!(taken, ManageAgentsError::Exists(_)));
    }

    #[tokio::test]
    async fn removing_an_agent_that_was_never_registered_is_not_found() {
        let mut registry = MockRegisteredAgents::new();
        registry.expect_unregister_agent().returning(|_| Ok(false));

        assert!(matches!(manage(registry).unregister("ghost").await, Err(ManageAgentsError::NotFound(_))));
    }
}
