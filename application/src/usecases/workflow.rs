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
