"""Registers push notifications on Switchboard's A2A server with the official SDK
(a2a-sdk 1.3) over one binding, and follows a task to its end.

Sends a message with returnImmediately (the task is WORKING), creates a push config for
the task (url, token, Bearer authentication), reads it back and lists it, waits for the
task to complete, then deletes the config. Prints one JSON object per line:
{"step": ..., "data": ...}. Used by tests/api/a2a_push.rs.

Usage: python sdk_push.py BASE_URL API_KEY HOOK_URL BINDING
"""

import asyncio
import json
import sys
import uuid

import httpx
from google.protobuf.json_format import MessageToDict

from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import (
    AuthenticationInfo,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    TaskPushNotificationConfig,
)


def emit(step, data):
    print(json.dumps({"step": step, "data": data}), flush=True)


async def main(base_url, api_key, hook_url, binding):
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": api_key}) as http:
        card = await A2ACardResolver(http, base_url).get_agent_card()
        emit("card", MessageToDict(card))
        client = ClientFactory(
            ClientConfig(httpx_client=http, streaming=False, supported_protocol_bindings=[binding])
        ).create(card)

        request = SendMessageRequest(
            message=Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()), parts=[Part(text="this thing")]),
            configuration=SendMessageConfiguration(return_immediately=True),
        )
        task_id = None
        async for resp in client.send_message(request):
            data = MessageToDict(resp)
            emit("send", data)
            task_id = task_id or data.get("task", {}).get("id")

        created = await client.create_task_push_notification_config(
            TaskPushNotificationConfig(
                task_id=task_id,
                id="hook-1",
                url=hook_url,
                token="tok-123",
                authentication=AuthenticationInfo(scheme="Bearer", credentials="cred-xyz"),
            )
        )
        emit("create", MessageToDict(created))
        got = await client.get_task_push_notification_config(
            GetTaskPushNotificationConfigRequest(task_id=task_id, id="hook-1")
        )
        emit("get_config", MessageToDict(got))
        listed = await client.list_task_push_notification_configs(
            ListTaskPushNotificationConfigsRequest(task_id=task_id)
        )
        emit("list_configs", MessageToDict(listed))

        for _ in range(200):
            task = await client.get_task(GetTaskRequest(id=task_id))
            if task.status.state == 3:  # TASK_STATE_COMPLETED
                break
            await asyncio.sleep(0.1)
        emit("done", MessageToDict(task))

        # The completed task's post is a queued job that reads its config when it runs, and
        # a config deleted before then stops it (deleting a config stops its posts). On a
        # busy host the job may run after this client has seen the task complete: give it
        # time before the delete, as a client that wants the last update would.
        await asyncio.sleep(2)
        await client.delete_task_push_notification_config(
            DeleteTaskPushNotificationConfigRequest(task_id=task_id, id="hook-1")
        )
        after = await client.list_task_push_notification_configs(
            ListTaskPushNotificationConfigsRequest(task_id=task_id)
        )
        emit("after_delete", MessageToDict(after))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]))
