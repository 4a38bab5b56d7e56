// Talks to Switchboard's A2A server with the official JavaScript SDK (@a2a-js/sdk).
//
// Resolves the agent card, sends one SendMessage, reads the task back with GetTask,
// then sends one SendStreamingMessage and reads the stream; lists the tasks, cancels a
// task that does not exist, and tries to follow up on, and to subscribe to, the task
// that has ended (both refused). Prints one JSON object per line: {"step": ..., "data": ...},
// the SDK's objects in ProtoJSON as tests/a2a/sdk_client.py prints the Python SDK's.
// Used by tests/api/a2a_js.rs.
//
// Usage: node client.mjs BASE_URL API_KEY TEXT BINDING
// BINDING: JSONRPC or HTTP+JSON; the client is given only that transport, so the SDK
// must find it in the card's supportedInterfaces or fail.

import { randomUUID } from 'node:crypto';

import { ListTasksResponse, Message, StreamResponse, Task } from '@a2a-js/sdk';
import {
  ClientFactory,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
  RestTransportFactory,
} from '@a2a-js/sdk/client';

const [baseUrl, apiKey, text, binding] = process.argv.slice(2);

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

function request(words, taskId) {
  return {
    message: Message.fromJSON({ messageId: randomUUID(), role: 'ROLE_USER', taskId, parts: [{ text: words }] }),
  };
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

// sendMessage answers a Task or a Message; ProtoJSON wraps it as SendMessageResponse does.
function sendResult(result) {
  return 'messageId' in result ? { message: Message.toJSON(result) } : { task: Task.toJSON(result) };
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

  const sent = sendResult(await client.sendMessage(request(text)));
  emit('send', sent);

  const task = await client.getTask({ tenant: '', id: sent.task.id, historyLength: undefined });
  emit('get', Task.toJSON(task));

  for await (const event of client.sendMessageStream(request(text))) {
    emit('stream', StreamResponse.toJSON(event));
  }

  const listed = await client.listTasks({ tenant: '', pageSize: 10 });
  emit('list', ListTasksResponse.toJSON(listed));

  await refused('cancel_missing', () => client.cancelTask({ tenant: '', id: 'no-such-task' }));
  await refused('send_to_ended', () => client.sendMessage(request('one more thing', sent.task.id)));
  await refused('subscribe_ended', async () => {
    for await (const event of client.resubscribeTask({ tenant: '', id: sent.task.id })) {
      emit('subscribe_event', StreamResponse.toJSON(event));
    }
  });
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n${error?.cause ? `cause: ${error.cause.stack ?? error.cause}` : ''}\n`);
  process.exit(1);
});
