//! The classifier and the agents, over A2A or built in.

use super::*;

#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("classifier unavailable: {0}")]
    Unavailable(String),
    #[error("classifier answered something unusable: {0}")]
    BadAnswer(String),
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Classifier: Send + Sync {
    /// The intent of the request, with a confidence.
    ///
    /// Errors: [`ClassifierError::Unavailable`] when it cannot be reached (the caller
    /// routes to the default agent); [`ClassifierError::BadAnswer`] when its answer has
    /// no usable intent.
    async fn classify(
        &self,
        request: &WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<Classification, ClassifierError>;
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no agent named {0}")]
    UnknownAgent(AgentName),
    #[error("agent {agent} unavailable: {message}")]
    Unavailable { agent: AgentName, message: String },
    #[error("agent {agent} failed: {message}")]
    Failed { agent: AgentName, message: String },
}

impl AgentError {
    /// Whether asking again later may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AgentGateway: Send + Sync {
    /// The named agent's reply to the request.
    ///
    /// Errors: [`AgentError::UnknownAgent`] when the registry has no such agent;
    /// [`AgentError::Unavailable`] when it cannot be reached now (retriable);
    /// [`AgentError::Failed`] when it answered with a failure.
    async fn ask(
        &self,
        agent: &AgentName,
        request: &WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<AgentReply, AgentError>;

    /// Cancels the named agent's task `task_id` (one it left waiting for the user).
    ///
    /// Errors: as [`Self::ask`]; an agent whose task already ended answers `Failed`.
    async fn cancel(&self, agent: &AgentName, task_id: &str, trace: &TraceContext) -> Result<(), AgentError>;
}

/// A skill an agent's card offers, and so a route: its id is the intent it takes, its
/// tags and examples what a classifier matches (card-driven routing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillRoute {
    pub agent: String,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
}

/// The metadata key under which the classifier is given the skills on offer (and which
/// no agent receives): a list of [`SkillRoute`].
pub const SKILLS_METADATA: &str = "available_skills";

/// The routes as they are now: they change as agents' cards do.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Routes: Send + Sync {
    /// The routing policy now.
    fn policy(&self) -> Arc<switchboard_domain::RoutingPolicy>;

    /// The skills of the agents that are up, for the classifier to choose among.
    fn skills(&self) -> Vec<SkillRoute>;
}

/// Routes that never change (configuration alone, no cards).
pub struct StaticRoutes(pub Arc<switchboard_domain::RoutingPolicy>);

impl Routes for StaticRoutes {
    fn policy(&self) -> Arc<switchboard_domain::RoutingPolicy> {
        self.0.clone()
    }

    fn skills(&self) -> Vec<SkillRoute> {
        Vec::new()
    }
}

/// An agent found by its card, as health checks show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentHealth {
    pub name: String,
    /// Its address without credentials or query.
    pub url: String,
    /// Its card was fetched at the last refresh; when not, its skills are not routed to.
    pub up: bool,
    /// The ids of the skills routed to it.
    pub skills: Vec<String>,
    /// Its card's interfaces, e.g. `JSONRPC 1.0`.
    pub bindings: Vec<String>,
}

/// The agents found by their cards, for health checks and operators.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AgentDirectory: Send + Sync {
    fn agents(&self) -> Vec<AgentHealth>;

    /// Fetches the cards again now (after a registration changed), rebuilding the routes.
    async fn refresh(&self);
}

/// Agents registered through the management API by URL alone.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RegisteredAgents: Send + Sync {
    /// Registers `name` at `url`; `false` when the name is taken (nothing changes).
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn register_agent(&self, name: &str, url: &str) -> Result<bool, StoreError>;

    /// Removes the registration; `false` when there was none.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn unregister_agent(&self, name: &str) -> Result<bool, StoreError>;

    /// Every registration, `(name, url)`, oldest first.
    ///
    /// Errors: [`StoreError::Unavailable`].
    async fn registered_agents(&self) -> Result<Vec<(String, String)>, StoreError>;
}
