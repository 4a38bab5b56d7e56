"""An agent built on the official A2A SDK (a2a-sdk 1.3, protocol 1.0) that works with
files and choices the way docs/a2a-conventions.md says. Used by tests/api/media.rs.

- A voice note (audio file part): it opens the file (inline bytes, or the signed link
  Switchboard gives) and checks its SHA-256 against the part's metadata, then answers
  in words what it opened.
- A photo (image file part): opened and checked the same way; it answers with a task in
  INPUT_REQUIRED whose message carries text, an image (a raw file part) and three
  choices (a data part {"choices": {...}}).
- The user's pick (a data part {"choice": {"id": ...}} in the same task): it completes
  the task naming the choice and the task.

Usage: python media_agent.py --port PORT
"""

import argparse
import base64
import hashlib
import urllib.request

import uvicorn
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette

from a2a.helpers import new_data_part, new_raw_part, new_task_from_user_message, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill

# A 1x1 PNG.
PLAN_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def opened(part):
    """What the agent found in a file part: its type, size, hash check and how it came."""
    metadata = MessageToDict(part.metadata) if part.HasField("metadata") else {}
    if part.HasField("raw"):
        data, how = part.raw, "inline"
    else:
        with urllib.request.urlopen(part.url, timeout=10) as response:
            data, how = response.read(), "by link"
    check = "sha256 ok" if hashlib.sha256(data).hexdigest() == metadata.get("sha256") else "sha256 MISMATCH"
    return f"{part.media_type} {len(data)} bytes {how}, {check}"


class MediaExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        parts = list(context.message.parts)
        files = [p for p in parts if p.HasField("raw") or p.HasField("url")]
        data = [MessageToDict(p.data) if p.HasField("data") else None for p in parts]
        choice = next((d["choice"] for d in data if isinstance(d, dict) and "choice" in d), None)
        if choice and context.current_task:
            task = context.current_task
            updater = TaskUpdater(event_queue, task.id, task.context_id)
            await updater.complete(
                updater.new_agent_message(parts=[new_text_part(f"Booked {choice['id']} in task {task.id}.")])
            )
            return
        audio = [p for p in files if p.media_type.startswith("audio/")]
        images = [p for p in files if p.media_type.startswith("image/")]
        if audio:
            await event_queue.enqueue_event(
                new_text_message(f"Heard your voice note: {opened(audio[0])}.", context_id=context.context_id)
            )
            return
        if images:
            task = context.current_task or new_task_from_user_message(context.message)
            if not context.current_task:
                await event_queue.enqueue_event(task)
            updater = TaskUpdater(event_queue, task.id, task.context_id)
            await updater.start_work()
            await updater.requires_input(
                updater.new_agent_message(
                    parts=[
                        new_text_part(f"Got your photo: {opened(images[0])}. Which slot suits you?"),
                        new_raw_part(PLAN_PNG, media_type="image/png", filename="plan.png"),
                        new_data_part(
                            {
                                "choices": {
                                    "options": [
                                        {"id": "slot-1", "title": "Morning"},
                                        {"id": "slot-2", "title": "Afternoon"},
                                        {"id": "slot-3", "title": "Evening"},
                                    ]
                                }
                            },
                            media_type="application/json",
                        ),
                    ]
                )
            )
            return
        await event_queue.enqueue_event(new_text_message("Send me a photo or a voice note.", context_id=context.context_id))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise NotImplementedError("cancel not supported")


def build_app(host: str, port: int) -> Starlette:
    card = AgentCard(
        name="Media Agent",
        description="Opens users' photos and voice notes; offers slots as choices.",
        version="0.1.0",
        default_input_modes=["text/plain", "image/*", "audio/*"],
        default_output_modes=["text/plain", "image/png", "application/json"],
        capabilities=AgentCapabilities(streaming=False),
        supported_interfaces=[
            AgentInterface(protocol_binding="JSONRPC", protocol_version="1.0", url=f"http://{host}:{port}/")
        ],
        skills=[
            AgentSkill(
                id="media",
                name="Media",
                description="Looks at photos and listens to voice notes.",
                tags=["media"],
                examples=["here is a photo"],
            )
        ],
    )
    handler = DefaultRequestHandler(agent_executor=MediaExecutor(), task_store=InMemoryTaskStore(), agent_card=card)
    routes = []
    routes.extend(create_agent_card_routes(card))
    routes.extend(create_jsonrpc_routes(handler, "/"))
    return Starlette(routes=routes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(args.host, args.port), host=args.host, port=args.port, log_level="warning")
