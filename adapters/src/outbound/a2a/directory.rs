//! Agents found by their cards: an agent registered by URL alone (`name=URL` in
//! `SWITCHBOARD_AGENTS`, no intents) is routed to by the skills its card offers. Each
//! skill's id becomes an intent routed to it, and the classifier is given the skills
//! (id, name, tags, examples) to choose among. Cards are fetched again every card TTL: a
//! changed card changes the routes; an agent whose card cannot be fetched is marked down
//! (`switchboard_agent_up` 0) and its skills leave the routes until it is back.
//!
//! Agents registered with intents keep them: their routes never depend on a card.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_application::ports::{AgentDirectory, AgentHealth, RegisteredAgents, Routes, SkillRoute};
use switchboard_domain::{AgentName, Intent, RoutingPolicy};
use switchboard_shared::TraceContext;
use switchboard_shared::secrets;
use tokio_util::sync::CancellationToken;

use super::{A2aClient, AgentEntry};

/// One card-driven agent as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStatus {
    pub name: String,
    pub url: String,
    pub up: bool,
    pub skills: Vec<SkillRoute>,
    /// The card's interfaces: binding and version, e.g. `JSONRPC 1.0`.
    pub bindings: Vec<String>,
}

struct Seen {
    policy: Arc<RoutingPolicy>,
    agents: Vec<AgentStatus>,
}

pub struct CardRoutes {
    client: Arc<A2aClient>,
    /// The agents configured by URL alone.
    agents: Vec<AgentEntry>,
    /// Every configured agent's name (taken: a registration may not reuse one).
    configured: Vec<String>,
    /// Agents registered through the management API.
    registered: Option<Arc<dyn RegisteredAgents>>,
    /// The routes that do not depend on cards: built-in ones and configured intents.
    base: RoutingPolicy,
    seen: RwLock<Seen>,
}

impl CardRoutes {
    /// Routes over `base` for the agents of `registry` that have no configured intents;
    /// none are known until [`Self::refresh`].
    pub fn new(client: Arc<A2aClient>, registry: &[AgentEntry], base: RoutingPolicy) -> Self {
        let agents: Vec<AgentEntry> = registry.iter().filter(|a| a.intents.is_empty()).cloned().collect();
        let seen = Seen {
            policy: Arc::new(base.clone()),
            agents: agents
                .iter()
                .map(|a| AgentStatus {
                    name: a.name.clone(),
                    url: a.url.clone(),
                    up: false,
                    skills: Vec::new(),
                    bindings: Vec::new(),
                })
                .collect(),
        };
        let configured = registry.iter().map(|a| a.name.clone()).collect();
        Self { client, agents, configured, registered: None, base, seen: RwLock::new(seen) }
    }

    /// Agents registered through the management API are routed to by their cards too.
    #[must_use]
    pub fn with_registered(mut self, registered: Arc<dyn RegisteredAgents>) -> Self {
        self.registered = Some(registered);
        self
    }

    /// Whether `name` is configured (`SWITCHBOARD_AGENTS`), so not free to register.
    pub fn is_configured(&self, name: &str) -> bool {
        self.configured.iter().any(|n| n == name)
    }

    /// The URL of a card-driven agent as last seen (a registered one included).
    pub fn url_of(&self, name: &str) -> Option<String> {
        self.seen
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .agents
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.url.clone())
    }

    /// The card-driven agents now: configured ones, then registered ones whose names are
    /// free. A registry that cannot be read keeps the registered agents last seen.
    async fn entries(&self) -> Vec<AgentEntry> {
        let mut entries = self.agents.clone();
        let Some(registered) = &self.registered else { return entries };
        match registered.registered_agents().await {
            Ok(list) => entries.extend(
                list.into_iter().filter(|(name, _)| !self.is_configured(name)).map(|(name, url)| AgentEntry {
                    name,
                    url,
                    intents: Vec::new(),
                }),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "registered agents could not be read; keeping those last seen");
                let seen = self.agents();
                entries.extend(seen.into_iter().filter(|a| !self.is_configured(&a.name)).map(|a| AgentEntry {
                    name: a.name,
                    url: a.url,
                    intents: Vec::new(),
                }));
            }
        }
        entries
    }

    /// The card-driven agents as last seen.
    pub fn agents(&self) -> Vec<AgentStatus> {
        self.seen.read().unwrap_or_else(std::sync::PoisonError::into_inner).agents.clone()
    }

    /// Fetches every card-driven agent's card and rebuilds the routes from their skills.
    #[tracing::instrument(name = "a2a.directory_refresh", skip_all, fields(agents = self.agents.len()))]
    pub async fn refresh(&self) {
        let trace = TraceContext::new_root();
        let before: BTreeMap<String, (bool, Vec<String>)> =
            self.agents().into_iter().map(|a| (a.name, (a.up, a.skills.into_iter().map(|s| s.id).collect()))).collect();
        let mut policy = self.base.clone();
        let entries = self.entries().await;
        let mut agents = Vec::with_capacity(entries.len());
        for entry in &entries {
            let status = match self.client.fresh_card(&entry.url, &trace).await {
                Ok(card) => {
                    let skills: Vec<SkillRoute> = card
                        .skills
                        .iter()
                        .map(|s| SkillRoute {
                            agent: entry.name.clone(),
                            id: s.id.clone(),
                            name: s.name.clone(),
                            description: s.description.clone(),
                            tags: s.tags.clone(),
                            examples: s.examples.clone(),
                        })
                        .collect();
                    for skill in &skills {
                        let intent = Intent::from(skill.id.clone());
                        // A configured intent is the operator's word: a card does not take it over.
                        if !self.base.routes_intent(&intent) {
                            policy = policy.route(intent, AgentName::new(entry.name.clone()));
                        }
                    }
                    let bindings = card
                        .supported_interfaces
                        .iter()
                        .map(|i| format!("{} {}", i.protocol_binding, i.protocol_version))
                        .collect();
                    AgentStatus { name: entry.name.clone(), url: entry.url.clone(), up: true, skills, bindings }
                }
                Err(e) => {
                    if before.get(&entry.name).is_none_or(|(up, _)| *up) {
                        tracing::warn!(agent = %entry.name, error = %e, "agent card unavailable: the agent is down and its skills are not routed to");
                    }
                    AgentStatus {
                        name: entry.name.clone(),
                        url: entry.url.clone(),
                        up: false,
                        skills: Vec::new(),
                        bindings: Vec::new(),
                    }
                }
            };
            metrics::gauge!("switchboard_agent_up", "agent" => entry.name.clone()).set(if status.up {
                1.0
            } else {
                0.0
            });
            let now: Vec<String> = status.skills.iter().map(|s| s.id.clone()).collect();
            if before.get(&entry.name).is_some_and(|(up, skills)| *up != status.up || *skills != now) && status.up {
                tracing::info!(agent = %entry.name, skills = ?now, "the agent's card changed its routes");
            }
            agents.push(status);
        }
        *self.seen.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Seen { policy: Arc::new(policy), agents };
    }

    /// Refreshes every `every` until `stop` (nothing to do while no agent is card-driven).
    pub fn refresh_every(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => self.refresh().await,
                }
            }
        });
    }
}

impl Routes for CardRoutes {
    fn policy(&self) -> Arc<RoutingPolicy> {
        self.seen.read().unwrap_or_else(std::sync::PoisonError::into_inner).policy.clone()
    }

    fn skills(&self) -> Vec<SkillRoute> {
        self.seen
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .agents
            .iter()
            .filter(|a| a.up)
            .flat_map(|a| a.skills.iter().cloned())
            .collect()
    }
}

#[async_trait]
impl AgentDirectory for CardRoutes {
    async fn refresh(&self) {
        CardRoutes::refresh(self).await;
    }

    fn agents(&self) -> Vec<AgentHealth> {
        CardRoutes::agents(self)
            .into_iter()
            .map(|a| AgentHealth {
                url: secrets::public_address(&a.url),
                name: a.name,
                up: a.up,
                skills: a.skills.into_iter().map(|s| s.id).collect(),
                bindings: a.bindings,
            })
            .collect()
    }
}
