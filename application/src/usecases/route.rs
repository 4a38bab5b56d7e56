//! Classify, route, ask: the orchestration every entry point shares (WhatsApp messages,
//! the REST workflow API, Switchboard's own A2A server).

use std::sync::Arc;

use switchboard_domain::{AgentName, AgentReply, Classification, Intent, RoutingPolicy, WorkflowRequest};
use switchboard_shared::TraceContext;

use crate::ports::{AgentError, AgentGateway, Classifier, OpenTask, Routes, SKILLS_METADATA, StaticRoutes};

/// What routing one request gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub classification: Classification,
    pub agent: AgentName,
    /// The agent's raw answer, with its task.
    pub reply: AgentReply,
    /// What the user is told: the answer, or an apology when the agent's task failed.
    pub text: String,
    /// The agent asked the user something: their next message goes to this task.
    pub open_task: Option<OpenTask>,
    /// The default agent answered because nobody else could: no route took the
    /// classification, or the routed agent failed.
    pub fell_back: bool,
}

pub struct Router {
    classifier: Arc<dyn Classifier>,
    agents: Arc<dyn AgentGateway>,
    routes: Arc<dyn Routes>,
}

pub const APOLOGY: &str = "Sorry, I couldn't finish that just now. A person from our team will follow up with you.";

impl Router {
    /// Asks the agent, recording how long it took and how it ended.
    async fn ask(
        &self,
        agent: &AgentName,
        request: &WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<AgentReply, AgentError> {
        let started = std::time::Instant::now();
        let result = self.agents.ask(agent, request, trace).await;
        let outcome = match &result {
            Ok(reply) if reply.is_failure() => "task_failed",
            Ok(_) => "ok",
            Err(e) if e.is_retriable() => "unavailable",
            Err(_) => "failed",
        };
        metrics::histogram!("switchboard_agent_call_duration_seconds", "agent" => agent.to_string(), "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    pub fn new(classifier: Arc<dyn Classifier>, agents: Arc<dyn AgentGateway>, policy: RoutingPolicy) -> Self {
        Self { classifier, agents, routes: Arc::new(StaticRoutes(Arc::new(policy))) }
    }

    /// Routes that change as agents' cards do (card-driven routing).
    #[must_use]
    pub fn with_routes(mut self, routes: Arc<dyn Routes>) -> Self {
        self.routes = routes;
        self
    }

    /// An agent handed the conversation to another (the transfer convention): the user's
    /// message goes to that agent in the same conversation and trace, with
    /// `transferred_from` and the `transfer_note` in its metadata; the user is told what
    /// the first agent said, then the second's answer. One transfer per turn: a transfer
    /// in the second answer, or to an agent nobody knows, is ignored and logged.
    ///
    /// Errors: the second agent's [`AgentError`] when it cannot be reached.
    async fn transfer(
        &self,
        policy: &RoutingPolicy,
        from: AgentName,
        first: AgentReply,
        transfer: &switchboard_domain::AgentTransfer,
        request: &mut WorkflowRequest,
        trace: &TraceContext,
    ) -> Result<(AgentName, AgentReply), AgentError> {
        // A skill or intent routed somewhere, else an agent's own name.
        let intent = Intent::from(transfer.to.clone());
        let to = if policy.routes_intent(&intent) {
            policy.agent_for(&Classification::new(intent, 1.0)).clone()
        } else {
            AgentName::new(transfer.to.clone())
        };
        if to == from {
            tracing::warn!(agent = %from, "an agent asked to transfer the conversation to itself; ignored");
            return Ok((from, first));
        }
        tracing::info!(from = %from, to = %to, "the agent hands the conversation to another agent");
        request.task_id = None;
        request.metadata.insert(String::from("transferred_from"), serde_json::json!(from.as_str()));
        if let Some(note) = &transfer.note {
            request.metadata.insert(String::from("transfer_note"), serde_json::json!(note));
        }
        let mut second = match self.ask(&to, request, trace).await {
            Ok(reply) => reply,
            Err(AgentError::UnknownAgent(_)) => {
                tracing::warn!(from = %from, to = %transfer.to, "transfer to an agent nobody knows; the first answer stands");
                return Ok((from, AgentReply { transfer: None, ..first }));
            }
            Err(e) => return Err(e),
        };
        metrics::counter!("switchboard_agent_transfers_total").increment(1);
        if second.transfer.take().is_some() {
            tracing::warn!(agent = %to, "a second transfer in one turn; ignored");
        }
        if !first.text.trim().is_empty() && !second.is_failure() {
            second.text = format!("{}\n\n{}", first.text.trim(), second.text);
        }
        Ok((to, second))
    }

    /// Cancels an agent's task left open (waiting for the user); a failure is logged, as
    /// nothing waits on it.
    pub async fn cancel(&self, open: &OpenTask, trace: &TraceContext) {
        match self.agents.cancel(&open.agent, &open.task_id, trace).await {
            Ok(()) => tracing::info!(agent = %open.agent, "the agent's open task was canceled too"),
            Err(e) => tracing::warn!(agent = %open.agent, error = %e, "the agent's open task could not be canceled"),
        }
    }

    /// Continues `open_task` when there is one, else classifies and routes. An agent
    /// that answers garbage, or is still unreachable when `last_chance`, gives way to
    /// the default agent, so the user always gets an answer.
    ///
    /// Errors: the agent's [`AgentError`] when it is retriable and not `last_chance`.
    pub async fn route(
        &self,
        request: &mut WorkflowRequest,
        open_task: Option<&OpenTask>,
        last_chance: bool,
        trace: &TraceContext,
    ) -> Result<Routed, AgentError> {
        let mut fell_back = false;
        let policy = self.routes.policy();
        let (classification, mut agent) = match open_task {
            Some(open) => {
                request.task_id = Some(open.task_id.clone());
                tracing::info!(agent = %open.agent, task_id = %open.task_id, "continuing the agent's open task");
                (Classification::new(Intent::Other(String::from("continuation")), 1.0), open.agent.clone())
            }
            None => {
                // The classifier chooses among the skills on offer; agents never see them.
                let skills = self.routes.skills();
                if !skills.is_empty() {
                    request.metadata.insert(String::from(SKILLS_METADATA), serde_json::json!(skills));
                }
                let classified = self.classifier.classify(request, trace).await;
                request.metadata.remove(SKILLS_METADATA);
                let classification = match classified {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "classifier failed; the default agent answers");
                        Classification::new(Intent::Unknown, 0.0)
                    }
                };
                let agent = policy.agent_for(&classification).clone();
                fell_back = policy.falls_back(&classification);
                // At info the turn's "reply planned" line says this (one line a message fewer).
                tracing::debug!(intent = %classification.intent, confidence = classification.confidence, agent = %agent, "classified");
                // Intents a classifier agent invents are counted as "other": a bounded label set.
                let label = if policy.routes_intent(&classification.intent)
                    || matches!(
                        classification.intent,
                        Intent::Greeting | Intent::Help | Intent::Acknowledgement | Intent::Unknown
                    ) {
                    classification.intent.to_string()
                } else {
                    String::from("other")
                };
                metrics::counter!("switchboard_classifications_total", "intent" => label).increment(1);
                (classification, agent)
            }
        };

        let mut reply = match self.ask(&agent, request, trace).await {
            Ok(reply) => reply,
            Err(e) if (last_chance || !e.is_retriable()) && &agent != policy.default_agent() => {
                tracing::warn!(error = %e, "agent failed; the default agent answers");
                agent = policy.default_agent().clone();
                fell_back = true;
                request.task_id = None;
                self.ask(&agent, request, trace).await?
            }
            Err(e) => return Err(e),
        };
        if let Some(transfer) = reply.transfer.clone() {
            (agent, reply) = self.transfer(&policy, agent, reply, &transfer, request, trace).await?;
        }
        let open_task = reply.open_task().map(|t| OpenTask { agent: agent.clone(), task_id: t.id.clone() });
        let text = if reply.is_failure() {
            let task = reply.task.as_ref();
            tracing::error!(
                agent = %agent,
                task_id = task.map(|t| t.id.as_str()).unwrap_or(""),
                state = task.map(|t| t.state.as_str()).unwrap_or(""),
                "the agent's task ended without an answer; the user gets an apology"
            );
            String::from(APOLOGY)
        } else if reply.text.trim().is_empty() {
            tracing::warn!(agent = %agent, "the agent answered with no text");
            String::from("Thanks, that's noted.")
        } else {
            reply.text.clone()
        };
        Ok(Routed { classification, agent, reply, text, open_task, fell_back })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{ClassifierError, MockAgentGateway, MockClassifier};
    use switchboard_domain::a2a::TaskState;
    use switchboard_domain::{AgentTask, Channel, InboundContent};

    fn router(classifier: MockClassifier, agents: MockAgentGateway) -> Router {
        let policy =
            RoutingPolicy::new(AgentName::new("fallback"), 0.5).route(Intent::Help, AgentName::new("helpdesk"));
        Router::new(Arc::new(classifier), Arc::new(agents), policy)
    }

    fn request() -> WorkflowRequest {
        WorkflowRequest {
            user_message: String::from("my parcel is late"),
            content: InboundContent::Text { body: String::from("my parcel is late") },
            user_id: String::from("+447700900123"),
            session_id: String::from("s1"),
            channel: Channel::Rest,
            user_name: None,
            metadata: Default::default(),
            trace_id: String::from("0af7651916cd43dd8448eb211c80319c"),
            task_id: Some(String::from("stale")),
            attachments: Vec::new(),
            choice: None,
        }
    }

    fn classified(intent: Intent, confidence: f32) -> MockClassifier {
        let mut classifier = MockClassifier::new();
        classifier.expect_classify().returning(move |_, _| Ok(Classification::new(intent.clone(), confidence)));
        classifier
    }

    fn unavailable(agent: &AgentName) -> AgentError {
        AgentError::Unavailable { agent: agent.clone(), message: String::from("connection refused") }
    }

    #[tokio::test]
    async fn the_classifier_is_given_the_skills_on_offer_their_routes_are_followed_and_agents_never_see_them() {
        use crate::ports::{MockRoutes, SkillRoute};
        let skill = SkillRoute {
            agent: String::from("orders"),
            id: String::from("order-status"),
            name: String::from("Order status"),
            description: String::new(),
            tags: vec![String::from("parcel")],
            examples: Vec::new(),
        };
        let mut routes = MockRoutes::new();
        routes.expect_skills().return_const(vec![skill]);
        routes.expect_policy().returning(|| {
            Arc::new(
                RoutingPolicy::new(AgentName::new("fallback"), 0.5)
                    .route(Intent::from(String::from("order-status")), AgentName::new("orders")),
            )
        });
        let mut classifier = MockClassifier::new();
        classifier
            .expect_classify()
            .withf(|request, _| request.metadata.get(SKILLS_METADATA).is_some_and(|s| s[0]["id"] == "order-status"))
            .returning(|_, _| Ok(Classification::new(Intent::from(String::from("order-status")), 0.9)));
        let mut agents = MockAgentGateway::new();
        agents
            .expect_ask()
            .withf(|agent, request, _| agent.as_str() == "orders" && !request.metadata.contains_key(SKILLS_METADATA))
            .times(1)
            .returning(|_, _, _| Ok(AgentReply::text("On its way")));
        let mut request = request();
        request.task_id = None;

        let routed = router(classifier, agents)
            .with_routes(Arc::new(routes))
            .route(&mut request, None, false, &TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(routed.agent.as_str(), "orders");
    }

    fn transferring(to: &str) -> AgentReply {
        AgentReply {
            transfer: Some(switchboard_domain::AgentTransfer { to: to.to_owned(), note: None }),
            ..AgentReply::text("Let me pass you on.")
        }
    }

    #[tokio::test]
    async fn a_transfer_to_an_agent_nobody_knows_or_to_itself_leaves_the_first_answer() {
        for to in ["nobody", "helpdesk"] {
            let mut agents = MockAgentGateway::new();
            let first = transferring(to);
            agents
                .expect_ask()
                .withf(|agent, _, _| agent.as_str() == "helpdesk")
                .times(1)
                .returning(move |_, _, _| Ok(first.clone()));
            agents
                .expect_ask()
                .withf(|agent, _, _| agent.as_str() == "nobody")
                .returning(|agent, _, _| Err(AgentError::UnknownAgent(agent.clone())));
            let mut request = request();
            request.task_id = None;

            let routed = router(classified(Intent::Help, 0.9), agents)
                .route(&mut request, None, false, &TraceContext::new_root())
                .await
                .unwrap();

            assert_eq!((routed.agent.as_str(), routed.text.as_str()), ("helpdesk", "Let me pass you on."), "{to}");
        }
    }

    #[tokio::test]
    async fn a_transfer_to_a_routed_skill_reaches_the_agent_that_takes_it_once() {
        let mut agents = MockAgentGateway::new();
        agents
            .expect_ask()
            .withf(|agent, _, _| agent.as_str() == "fallback")
            .times(1)
            .returning(|_, _, _| Ok(transferring("help")));
        agents
            .expect_ask()
            .withf(|agent, request, _| {
                agent.as_str() == "helpdesk" && request.metadata["transferred_from"] == "fallback"
            })
            .times(1)
            .returning(|_, _, _| Ok(transferring("fallback")));
        let mut request = request();
        request.task_id = None;

        let routed = router(classified(Intent::Unknown, 0.9), agents)
            .route(&mut request, None, false, &TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(routed.agent.as_str(), "helpdesk");
        assert_eq!(routed.text, "Let me pass you on.\n\nLet me pass you on.");
        assert!(routed.reply.transfer.is_none(), "a second transfer in one turn is dropped");
    }

    #[tokio::test]
    async fn when_the_classifier_fails_the_default_agent_answers() {
        let mut classifier = MockClassifier::new();
        classifier.expect_classify().returning(|_, _| Err(ClassifierError::Unavailable(String::from("timeout"))));
        let mut agents = MockAgentGateway::new();
        agents
            .expect_ask()
            .withf(|agent, _, _| agent.as_str() == "fallback")
            .times(1)
            .returning(|_, _, _| Ok(AgentReply::text("A person will look into it")));

        let routed =
            router(classifier, agents).route(&mut request(), None, false, &TraceContext::new_root()).await.unwrap();

        assert_eq!(routed.classification, Classification::new(Intent::Unknown, 0.0));
        assert_eq!(routed.agent.as_str(), "fallback");
        assert_eq!(routed.text, "A person will look into it");
    }

    #[tokio::test]
    async fn an_agent_that_answers_no_text_still_gets_the_user_an_acknowledgement() {
        let mut agents = MockAgentGateway::new();
        agents.expect_ask().returning(|_, _, _| Ok(AgentReply::text("  ")));

        let routed = router(classified(Intent::Other(String::from("billing")), 0.9), agents)
            .route(&mut request(), None, false, &TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(routed.text, "Thanks, that's noted.");
        assert_eq!(routed.agent.as_str(), "fallback");
        assert_eq!(routed.open_task, None);
    }

    #[tokio::test]
    async fn an_agent_that_refuses_for_good_gives_way_to_the_default_agent_at_once() {
        let mut agents = MockAgentGateway::new();
        agents.expect_ask().withf(|agent, _, _| agent.as_str() == "helpdesk").times(1).returning(|agent, _, _| {
            Err(AgentError::Failed { agent: agent.clone(), message: String::from("bad request") })
        });
        agents
            .expect_ask()
            .withf(|agent, request, _| agent.as_str() == "fallback" && request.task_id.is_none())
            .times(1)
            .returning(|_, _, _| Ok(AgentReply::text("Let me help instead")));
        let mut request = request();

        let routed = router(classified(Intent::Help, 0.9), agents)
            .route(&mut request, None, false, &TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(routed.agent.as_str(), "fallback");
        assert_eq!(routed.text, "Let me help instead");
        assert_eq!(routed.classification.intent, Intent::Help);
    }

    #[tokio::test]
    async fn an_unreachable_agent_is_an_error_to_retry_when_it_is_not_the_last_chance() {
        let mut agents = MockAgentGateway::new();
        agents
            .expect_ask()
            .withf(|agent, _, _| agent.as_str() == "helpdesk")
            .times(1)
            .returning(|a, _, _| Err(unavailable(a)));

        let result = router(classified(Intent::Help, 0.9), agents)
            .route(&mut request(), None, false, &TraceContext::new_root())
            .await;

        assert!(matches!(result, Err(e) if e.is_retriable()));
    }

    #[tokio::test]
    async fn the_default_agent_failing_is_the_error_whatever_the_chance() {
        let mut agents = MockAgentGateway::new();
        agents.expect_ask().times(1).returning(|a, _, _| Err(unavailable(a)));

        let result = router(classified(Intent::Greeting, 0.9), agents)
            .route(&mut request(), None, true, &TraceContext::new_root())
            .await;

        assert!(matches!(result, Err(AgentError::Unavailable { agent, .. }) if agent.as_str() == "fallback"));
    }

    #[tokio::test]
    async fn an_agent_task_that_ended_without_an_answer_is_an_apology_to_the_user() {
        let mut agents = MockAgentGateway::new();
        agents.expect_ask().returning(|_, _, _| {
            Ok(AgentReply {
                text: String::from("internal: tool crashed"),
                task: Some(AgentTask { id: String::from("t"), state: TaskState::Rejected }),
                handoff: None,
                files: Vec::new(),
                choices: None,
                transfer: None,
            })
        });

        let routed = router(classified(Intent::Help, 0.9), agents)
            .route(&mut request(), None, true, &TraceContext::new_root())
            .await
            .unwrap();

        assert_eq!(routed.text, APOLOGY);
        assert!(routed.reply.is_failure());
    }
}
