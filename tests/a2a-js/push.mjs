// Registers push notifications on Switchboard's A2A server with the official JavaScript
// SDK (@a2a-js/sdk) over one binding, and follows a task to its end.
//
// Sends a message with returnImmediately (the task is WORKING), creates a push config for
// the task through the SDK's push-config API (id, url, token, Bearer authentication),
// reads it back and lists it, polls GetTask until the task completes, then deletes the
// config and lists again; then reads the deleted config, and creates, reads, lists and
// deletes configs of a task that does not exist (all refused). Prints one JSON object per line: {"step": ..., "data": ...},
// the SDK's objects in ProtoJSON as tests/a2a/sdk_push.py prints the Python SDK's.
// Used by tests/api/a2a_js.rs.
//
// Usage: node push.mjs BASE_URL API_KEY HOOK_URL BINDING
// BINDING: JSONRPC or HTTP+JSON; the client is given only that transport, as in client.mjs.

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  ListTaskPushNotificationConfigsResponse,
  Message,
  SendMessageConfiguration,
  Task,
  TaskPushNotificationConfig,
  TaskState,
} from '@a2a-js/sdk';
import {
  ClientFactory,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
  RestTransportFactory,
} from '@a2a-js/sdk/client';

const [baseUrl, apiKey, hookUrl, binding] = process.argv.slice(2);
const CONFIG_ID = 'hook-1';

function emit(step, data) {
  process.stdout.write(JSON.stringify({ step, data }) + '\n');
}

// Every request the SDK makes (the card included) carries the API key.
const fetchWithKey = (url, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('X-API-Key', apiKey);
  return fetch(url, { ...init, headers });
};

function transportFor(name) {
  switch (name) {
    case 'JSONRPC':
      return new JsonRpcTransportFactory({ fetchImpl: fetchWithKey });
    case 'HTTP+JSON':
      return new RestTransportFactory({ fetchImpl: fetchWithKey });
    default:
      throw new Error(`unknown binding ${name}: JSONRPC or HTTP+JSON`);
  }
}

// Runs `call`, printing its error the SDK mapped (or {"error": null} when none came).
async function refused(step, call) {
  try {
    await call();
    emit(step, { error: null });
  } catch (error) {
    emit(step, describe(error));
  }
}

function describe(error) {
  return {
    error: error?.name ?? String(error),
    class: error?.constructor?.name,
    code: error?.envelopeCode ?? error?.statusCode,
    message: error?.message,
  };
}

async function main() {
  const resolver = new DefaultAgentCardResolver({ fetchImpl: fetchWithKey });
  const card = await resolver.resolve(baseUrl);
  emit('card', card);

  const factory = new ClientFactory({
    transports: [transportFor(binding)],
    preferredTransports: [binding],
    cardResolver: resolver,
  });
  const client = await factory.createFromAgentCard(card);

  const result = await client.sendMessage({
    message: Message.fromJSON({ messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text: 'this thing' }] }),
    configuration: SendMessageConfiguration.fromJSON({ returnImmediately: true }),
  });
  if ('messageId' in result) {
    throw new Error(`a Message came back, not a Task: ${JSON.stringify(Message.toJSON(result))}`);
  }
  emit('send', { task: Task.toJSON(result) });
  const taskId = result.id;

  const created = await client.createTaskPushNotificationConfig(
    TaskPushNotificationConfig.fromJSON({
      taskId,
      id: CONFIG_ID,
      url: hookUrl,
      token: 'tok-123',
      authentication: { scheme: 'Bearer', credentials: 'cred-xyz' },
    }),
  );
  emit('create', TaskPushNotificationConfig.toJSON(created));

  const got = await client.getTaskPushNotificationConfig({ tenant: '', taskId, id: CONFIG_ID });
  emit('get_config', TaskPushNotificationConfig.toJSON(got));

  const listed = await client.listTaskPushNotificationConfig({ tenant: '', taskId, pageSize: 0, pageToken: '' });
  emit('list_configs', ListTaskPushNotificationConfigsResponse.toJSON(listed));

  let task;
  for (let i = 0; i < 200; i++) {
    task = await client.getTask({ tenant: '', id: taskId, historyLength: undefined });
    if (task.status?.state === TaskState.TASK_STATE_COMPLETED) break;
    await sleep(100);
  }
  emit('done', Task.toJSON(task));

  await client.deleteTaskPushNotificationConfig({ tenant: '', taskId, id: CONFIG_ID });
  emit('delete', { ok: true });

  const after = await client.listTaskPushNotificationConfig({ tenant: '', taskId, pageSize: 0, pageToken: '' });
  emit('after_delete', ListTaskPushNotificationConfigsResponse.toJSON(after));

  await refused('get_deleted', () => client.getTaskPushNotificationConfig({ tenant: '', taskId, id: CONFIG_ID }));
  const missing = 'no-such-task';
  await refused('create_missing_task', () =>
    client.createTaskPushNotificationConfig(
      TaskPushNotificationConfig.fromJSON({ taskId: missing, id: CONFIG_ID, url: hookUrl }),
    ),
  );
  await refused('get_missing_task', () =>
    client.getTaskPushNotificationConfig({ tenant: '', taskId: missing, id: CONFIG_ID }),
  );
  await refused('list_missing_task', () =>
    client.listTaskPushNotificationConfig({ tenant: '', taskId: missing, pageSize: 0, pageToken: '' }),
  );
  await refused('delete_missing_task', () =>
    client.deleteTaskPushNotificationConfig({ tenant: '', taskId: missing, id: CONFIG_ID }),
  );
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n${error?.cause ? `cause: ${error.cause.stack ?? error.cause}` : ''}\n`);
  process.exit(1);
});
