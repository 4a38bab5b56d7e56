use std::sync::Arc;

use switchboard_domain::WorkflowRequest;
use switchboard_domain::a2a::TaskState;
use switchboard_shared::TraceContext;
use tracing::Instrument;

use crate::ports::{AgentError, OpenTask};
use crate::usecases::route::Router;

/// What a workflow run answers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WorkflowOutcome {
    pub reply: String,
    pub intent: String,
    pub confidence: f32,
    pub agent: String,
    /// The agent's task state, `TASK_STATE_COMPLETED` when it answered with a message.
    pub task_state: String,
    pub task_id: Option<String>,
    pub trace_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Agent(#[from] AgentError),
}

/// The REST workflow API: classification, routing and the agent's answer, now.
pub struct RunWorkflow {
    router: Arc<Router>,
}

impl RunWorkflow {
    pub fn new(router: Arc<Router>) -> Self {
        Self { router }
    }

    /// Runs one request to its answer. No job, no retry: a failing agent gives way to
    /// the default agent at once.
    pub async fn execute(
        &self,
        mut request: WorkflowRequest,
        open_task: Option<OpenTask>,
        trace: TraceContext,
    ) -> Result<WorkflowOutcome, WorkflowError> {
        let span = tracing::info_span!("run_workflow", trace_id = %trace.trace_id, channel = request.channel.as_str());
        async {
            let routed = self.router.route(&mut request, open_task.as_ref(), true, &trace).await?;
            let task = routed.reply.task.as_ref();
            Ok(WorkflowOutcome {
                reply: routed.text.clone(),
                intent: routed.classification.intent.to_string(),
                confidence: routed.classification.confidence,
                agent: routed.agent.to_string(),
                task_state: task.map_or(TaskState::Completed, |t| t.state).as_str().to_owned(),
                task_id: task.map(|t| t.id.clone()),
                trace_id: trace.trace_id.to_string(),
            })
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockAgentGateway, MockClassifier};
    use switchboard_domain::{
        AgentName, AgentReply, AgentTask, Channel, Classification, InboundContent, Intent, RoutingPolicy,
    };

    fn run_workflow(intent: Intent, agents: MockAgentGateway) -> RunWorkflow {
        let mut classifier = MockClassifier::new();
        classifier.expect_classify().returning(move |_, _| Ok(Classification::new(intent.clone(), 0.8)));
        let policy =
            RoutingPolicy::new(AgentName::new("fallback"), 0.5).route(Intent::Help, AgentName::new("helpdesk"));
        RunWorkflow::new(Arc::new(Router::new(Arc::new(classifier), Arc::new(agents), policy)))
    }

    fn request() -> WorkflowRequest {
        WorkflowRequest {
            user_message: String::from("How do I reset my password?"),
            content: InboundContent::Text { body: String::from("How do I reset my password?") },
            user_id: String::from("crm:42"),
            session_id: String::from("s1"),
            channel: Channel::Rest,
            user_name: None,
            metadata: Default::default(),
            trace_id: String::new(),
            task_id: None,
            attachments: Vec::new(),
            choice: None,
        }
    }

    #[tokio::test]
    async fn a_plain_answer_is_a_completed_outcome_with_the_classification_and_the_trace() {
        let mut agents = MockAgentGateway::new();
        agents
            .expect_ask()
            .withf(|agent, _, _| agent.as_str() == "helpdesk")
            .returning(|_, _, _| Ok(AgentReply::text("Use the link on the login page.")));
        let trace = TraceContext::new_root();

        let outcome = run_workflow(Intent::Help, agents).execute(request(), None, trace).await.unwrap();

        assert_eq!(
            outcome,
            WorkflowOutcome {
                reply: String::from("Use the link on the login page."),
                intent: String::from("help"),
                confidence: 0.8,
                agent: String::from("helpdesk"),
                task_state: String::from("TASK_STATE_COMPLETED"),
                task_id: None,
                trace_id: trace.trace_id.to_string(),
            }
        );
    }

    #[tokio::test]
    async fn an_agents_question_is_answered_with_its_task_to_continue() {
        let mut agents = MockAgentGateway::new();
        agents.expect_ask().returning(|_, _, _| {
            Ok(AgentReply {
                text: String::from("Which account?"),
                task: Some(AgentTask { id: String::from("task-7"), state: TaskState::InputRequired }),
                handoff: None,
                files: Vec::new(),
                choices: None,
                transfer: None,
            })
        });

        let outcome =
            run_workflow(Intent::Help, agents).execute(request(), None, TraceContext::new_root()).await.unwrap();

        assert_eq!(outcome.task_state, "TASK_STATE_INPUT_REQUIRED");
        assert_eq!(outcome.task_id.as_deref(), Some("task-7"));
    }

    #[tokio::test]
    async fn an_open_task_is_continued_with_the_agent_that_asked() {
        let mut agents = MockAgentGateway::new();
        agents
            .expect_ask()
            .withf(|agent, request, _| agent.as_str() == "billing" && request.task_id.as_deref() == Some("task-7"))
            .times(1)
            .returning(|_, _, _| Ok(AgentReply::text("Done.")));
        let open = OpenTask { agent: AgentName::new("billing"), task_id: String::from("task-7") };

        let outcome =
            run_workflow(Intent::Help, agents).execute(request(), Some(open), TraceContext::new_root()).await.unwrap();

        assert_eq!((outcome.agent.as_str(), outcome.intent.as_str()), ("billing", "continuation"));
    }

    #[tokio::test]
    async fn when_every_agent_fails_the_workflow_fails_with_the_agents_error() {
        let mut agents = MockAgentGateway::new();
        agents.expect_ask().returning(|agent, _, _| {
            Err(AgentError::Unavailable { agent: agent.clone(), message: String::from("connection refused") })
        });

        let result = run_workflow(Intent::Help, agents).execute(request(), None, TraceContext::new_root()).await;

        assert!(
            matches!(result, Err(WorkflowError::Agent(AgentError::Unavailable { agent, .. })) if agent.as_str() == "fallback")
        );
    }
}
