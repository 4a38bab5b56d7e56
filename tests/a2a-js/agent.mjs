// A specialist agent built on the official JavaScript SDK's server (@a2a-js/sdk with its
// Express adapter), for Switchboard to route WhatsApp messages to over JSON-RPC.
//
// Every message gets a task that goes WORKING, gains an artifact "answer" and ends
// COMPLETED with the same text as its status message: "JS agent heard: <text>". v0.3
// compatibility is off, so only a v1.0 caller (A2A-Version: 1.0) is answered.
// Used by tests/api/a2a_js.rs.
//
// Usage: node agent.mjs --port N   (listens on 127.0.0.1 only)

import { randomUUID } from 'node:crypto';

import express from 'express';
import { AgentCard, Message, Task, TaskArtifactUpdateEvent, TaskStatusUpdateEvent } from '@a2a-js/sdk';
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } from '@a2a-js/sdk/server';
import { UserBuilder, agentCardHandler, jsonRpcHandler } from '@a2a-js/sdk/server/express';

const portFlag = process.argv.indexOf('--port');
const port = Number(portFlag >= 0 ? process.argv[portFlag + 1] : NaN);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node agent.mjs --port N\n');
  process.exit(2);
}
const url = `http://127.0.0.1:${port}`;

const card = AgentCard.fromJSON({
  name: 'JS agent',
  description: 'Repeats what it heard; built on the official A2A JavaScript SDK.',
  version: '1.0.0',
  supportedInterfaces: [{ url: `${url}/a2a`, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }],
  capabilities: { streaming: true, pushNotifications: false },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'echo', name: 'Echo', description: 'Says what it heard.', tags: ['billing'] }],
});

function textOf(message) {
  return (message?.parts ?? [])
    .map((part) => (part.content?.$case === 'text' ? part.content.value : ''))
    .filter(Boolean)
    .join(' ');
}

const heard = {
  async execute(context, bus) {
    const { taskId, contextId, userMessage } = context;
    const answer = `JS agent heard: ${textOf(userMessage)}`;
    const now = () => new Date().toISOString();

    bus.publish(
      AgentEvent.task(
        Task.fromJSON({
          id: taskId,
          contextId,
          status: { state: 'TASK_STATE_WORKING', timestamp: now() },
          history: [Message.toJSON(userMessage)],
        }),
      ),
    );
    bus.publish(
      AgentEvent.artifactUpdate(
        TaskArtifactUpdateEvent.fromJSON({
          taskId,
          contextId,
          artifact: { artifactId: randomUUID(), name: 'answer', parts: [{ text: answer }] },
          lastChunk: true,
        }),
      ),
    );
    bus.publish(
      AgentEvent.statusUpdate(
        TaskStatusUpdateEvent.fromJSON({
          taskId,
          contextId,
          status: {
            state: 'TASK_STATE_COMPLETED',
            timestamp: now(),
            message: { messageId: randomUUID(), taskId, contextId, role: 'ROLE_AGENT', parts: [{ text: answer }] },
          },
        }),
      ),
    );
    bus.finished();
  },

  async cancelTask(taskId, bus) {
    bus.publish(
      AgentEvent.statusUpdate(
        TaskStatusUpdateEvent.fromJSON({ taskId, status: { state: 'TASK_STATE_CANCELED', timestamp: new Date().toISOString() } }),
      ),
    );
    bus.finished();
  },
};

const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), heard);
const app = express();
app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: handler }));
app.use('/a2a', jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
app.listen(port, '127.0.0.1', () => process.stdout.write(`JS agent on ${url}\n`));
