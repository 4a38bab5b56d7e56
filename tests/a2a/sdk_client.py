"""Talks to Switchboard's A2A server with the official SDK (a2a-sdk 1.3).

Resolves the agent card, sends one SendMessage, reads the task back with GetTask,
then sends one SendStreamingMessage and reads the stream; lists the tasks and cancels a
task that does not exist. Prints one JSON object per line: {"step": ..., "data": ...}.
Used by tests/api/a2a_server.rs.

Usage: python sdk_client.py BASE_URL API_KEY TEXT [BINDING]
BINDING: JSONRPC (the default) or HTTP+JSON; the client uses only that one.
"""

import asyncio
import json
import sys
import uuid

import httpx
from google.protobuf.json_format import MessageToDict

from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
)


def emit(step, data):
    print(json.dumps({"step": step, "data": data}), flush=True)


def request(text):
    return SendMessageRequest(
        message=Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[Part(text=text)])
    )


async def main(base_url, api_key, text, binding):
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": api_key}) as http:
        card = await A2ACardResolver(http, base_url).get_agent_card()
        emit("card", MessageToDict(card))

        def config(streaming):
            return ClientConfig(httpx_client=http, streaming=streaming, supported_protocol_bindings=[binding])

        client = ClientFactory(config(False)).create(card)
        task_id = None
        async for resp in client.send_message(request(text)):
            data = MessageToDict(resp)
            emit("send", data)
            task_id = task_id or data.get("task", {}).get("id")

        task = await client.get_task(GetTaskRequest(id=task_id))
        emit("get", MessageToDict(task))

        streaming = ClientFactory(config(True)).create(card)
        async for resp in streaming.send_message(request(text)):
            emit("stream", MessageToDict(resp))

        listed = await client.list_tasks(ListTasksRequest(page_size=10))
        emit("list", MessageToDict(listed))

        try:
            await client.cancel_task(CancelTaskRequest(id="no-such-task"))
            emit("cancel_missing", {"error": None})
        except Exception as e:  # the SDK's mapped error type is what the test checks
            emit("cancel_missing", {"error": type(e).__name__, "message": str(e)})


if __name__ == "__main__":
    binding = sys.argv[4] if len(sys.argv) > 4 else "JSONRPC"
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], binding))
