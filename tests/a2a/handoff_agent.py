"""A support agent built on the official A2A SDK (a2a-sdk 1.3, protocol 1.0) that asks
Switchboard for a person the way docs/a2a-conventions.md says: a data part
{"handoff": {"reason": ...}} beside its answer. Used by tests/api/handoff.rs.

A message that mentions a refund gets a completed task whose status message says a
colleague will take over and carries the handoff data part; anything else gets a plain
text message.

Usage: python handoff_agent.py --port PORT
"""

import argparse

import uvicorn
from starlette.applications import Starlette

from a2a.helpers import get_message_text, new_data_part, new_task_from_user_message, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill


class SupportExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = get_message_text(context.message)
        if "refund" not in text.lower():
            await event_queue.enqueue_event(
                new_text_message("Support here: happy to help.", context_id=context.context_id)
            )
            return
        task = context.current_task or new_task_from_user_message(context.message)
        if not context.current_task:
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        await updater.complete(
            updater.new_agent_message(
                parts=[
                    new_text_part("A colleague will take this over."),
                    new_data_part({"handoff": {"reason": "refund over the limit"}}, media_type="application/json"),
                ]
            )
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError("cancel not supported")


def build_app(host: str, port: int) -> Starlette:
    card = AgentCard(
        name="Support Agent",
        description="Answers support questions; asks for a person for refunds.",
        version="0.1.0",
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain", "application/json"],
        capabilities=AgentCapabilities(streaming=False),
        supported_interfaces=[
            AgentInterface(protocol_binding="JSONRPC", protocol_version=v, url=f"http://{host}:{port}/")
            for v in ("1.0", "0.3")
        ],
        skills=[
            AgentSkill(
                id="support",
                name="Support",
                description="Answers support questions; refunds go to a person.",
                tags=["support", "refund"],
                examples=["I need help with a refund"],
            )
        ],
    )
    handler = DefaultRequestHandler(agent_executor=SupportExecutor(), task_store=InMemoryTaskStore(), agent_card=card)
    routes = []
    routes.extend(create_agent_card_routes(card))
    routes.extend(create_jsonrpc_routes(handler, "/", enable_v0_3_compat=True))
    return Starlette(routes=routes)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9998)
    args = ap.parse_args()
    uvicorn.run(build_app(args.host, args.port), host=args.host, port=args.port)
