'use strict';

// The garbage collector as a backstop (lib/managed.js): a client or stream nobody holds is given
// back to the library, and nothing that runs or is awaited is collected under its user.

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { setImmediate: nextTurn, setTimeout: sleep } = require('node:timers/promises');
const v8 = require('node:v8');
const vm = require('node:vm');

const liter = require('liter-llm');
const native = require('../lib/native');
const { startMockUpstream } = require('./support/mock-upstream');
const { openaiCompletion, openaiStream } = require('./support/fixtures');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const { Client } = liter;

/** Collects garbage (and lets finalizers run) until `done()` resolves true, at most `rounds` times. */
async function collectUntil(done, rounds = 100) {
  for (let i = 0; i < rounds; i++) {
    await nextTurn();
    gc();
    await sleep(10);
    if (await done()) return true;
  }
  return false;
}

const MOCK_CALL = JSON.stringify({ model: 'm', prompt: 'Hi', mock_response: 'alive' });

/** Whether the library still has the client `handle`. */
async function exists(handle) {
  try {
    await native.call(handle, 'mock', MOCK_CALL, undefined);
    return true;
  } catch (error) {
    if (/does not exist or was freed/.test(error.message)) return false;
    throw error;
  }
}

describe('garbage collection', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('a client nobody holds is freed by the garbage collector', async () => {
    const handle = await (async () => {
      const client = new Client();
      await client.completion({ model: 'mock/m', prompt: 'Hi' });
      return client._handle();
    })();
    assert.equal(await exists(handle), true);
    assert.ok(await collectUntil(async () => !(await exists(handle))), `client ${handle} was never freed`);
  });

  test('a client nobody holds lives until its call ends', async () => {
    const session = await mock.session([{ json: openaiCompletion('answered'), delay_ms: 500 }]);
    const call = new Client({ providers: { openai: { api_key: 'k', base_url: session.baseUrl } } }).completion({
      model: 'openai/gpt-4o-mini',
      prompt: 'Hi',
    });
    const collector = setInterval(gc, 20);
    try {
      assert.equal((await call).choices[0].message.content, 'answered');
    } finally {
      clearInterval(collector);
    }
  });

  test('a stream keeps its client alive while it runs, and is not collected while read', { timeout: 30000 }, async () => {
    const session = await mock.session([{ status: 200, chunks: openaiStream(['one ', 'two ', 'three'], 200) }]);
    const stream = await new Client({ providers: { openai: { api_key: 'k', base_url: session.baseUrl } } }).invokeStream('openai', {
      model: 'gpt-4o-mini',
      prompt: 'Hi',
    });
    const collector = setInterval(gc, 20);
    let text = '';
    try {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    } finally {
      clearInterval(collector);
    }
    assert.equal(text, 'one two three');
    const [request] = await mock.settledRequests(session.id);
    assert.equal(request.outcome, 'completed');
  });

  test('a stream left unread and dropped is cancelled by the garbage collector', async () => {
    const session = await mock.session([{ status: 200, chunks: openaiStream(['first', 'never'], 10000) }]);
    await (async () => {
      await liter.invokeStream('openai', { model: 'gpt-4o-mini', prompt: 'Hi', api_key: 'k', base_url: session.baseUrl });
    })();
    const closed = await collectUntil(async () => {
      const requests = await mock.requests(session.id);
      return requests.length === 1 && requests[0].outcome === 'client_closed';
    });
    assert.ok(closed, JSON.stringify(await mock.requests(session.id)));
    assert.ok(await collectUntil(() => native.pendingCount() === 0), 'the library let go of the stream');
  });
});
