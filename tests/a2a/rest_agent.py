"""A specialist agent built on the official A2A SDK (a2a-sdk 1.3, protocol 1.0) that
serves the HTTP+JSON (REST) binding only: its card lists HTTP+JSON and nothing else, so a
client must speak REST to it. It asks which order a refund is for (INPUT_REQUIRED), and
completes the task when told; cancel is supported. Used by tests/api/a2a_server.rs.

Usage: python rest_agent.py --port PORT
"""

import argparse

import uvicorn
from starlette.applications import Starlette

from a2a.helpers import get_message_text, new_task_from_user_message, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_rest_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill


class RefundExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = get_message_text(context.message)
        task = context.current_task or new_task_from_user_message(context.message)
        if not context.current_task:
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        if context.current_task:
            await updater.add_artifact(parts=[new_text_part(f"REST agent refunded order {text}.")], name="refund")
            await updater.complete()
            return
        await updater.requires_input(
            message=new_text_message("REST agent: which order?", context_id=task.context_id, task_id=task.id)
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.cancel()


def build_app(host: str, port: int) -> Starlette:
    card = AgentCard(
        name="REST refund agent",
        description="Refunds orders; speaks HTTP+JSON only.",
        version="1.0.0",
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        capabilities=AgentCapabilities(streaming=False),
        supported_interfaces=[
            AgentInterface(protocol_binding="HTTP+JSON", protocol_version="1.0", url=f"http://{host}:{port}")
        ],
        skills=[AgentSkill(id="refund", name="Refund", description="Refunds an order", tags=["refund"])],
    )
    handler = DefaultRequestHandler(agent_executor=RefundExecutor(), task_store=InMemoryTaskStore(), agent_card=card)
    routes = []
    routes.extend(create_agent_card_routes(card))
    routes.extend(create_rest_routes(handler))
    return Starlette(routes=routes)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9999)
    args = ap.parse_args()
    uvicorn.run(build_app(args.host, args.port), host=args.host, port=args.port)
