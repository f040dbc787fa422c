import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import * as namespace from 'liter-llm';
import liter, { Client, CancelledError, completion, invoke, streamChunkBuilder, ChatCompletionStream, LiterLlmError, RateLimitError, version } from 'liter-llm';

const require = createRequire(import.meta.url);
const { startMockUpstream } = require('./support/mock-upstream.js');
const { openaiCompletion, viaSession } = require('./support/fixtures.js');

describe('round trip (ES module)', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('named and default exports are the CommonJS objects', () => {
    const cjs = require('liter-llm');
    assert.equal(completion, cjs.completion);
    assert.equal(invoke, cjs.invoke);
    assert.equal(LiterLlmError, cjs.LiterLlmError);
    assert.equal(liter, cjs);
    assert.equal(version, cjs.version);
    assert.equal(Client, cjs.Client);
    assert.equal(CancelledError, cjs.CancelledError);
  });

  test('every CommonJS export is a named export', () => {
    const cjs = require('liter-llm');
    const named = Object.keys(namespace).filter((name) => name !== 'default');
    assert.deepEqual(named.sort(), Object.keys(cjs).sort());
  });

  test('a Client from an ES module', async () => {
    const session = await mock.session([{ json: openaiCompletion('client from esm') }]);
    const client = new Client({ providers: { openai: { api_key: 'sk-esm', base_url: session.baseUrl } } });
    try {
      const r = await client.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi' });
      assert.equal(r.choices[0].message.content, 'client from esm');
    } finally {
      await client.close();
    }
    const [request] = await mock.requests(session.id);
    assert.equal(request.headers.authorization, 'Bearer sk-esm');
  });

  test('the mock provider', async () => {
    const r = await completion({ model: 'mock/demo', messages: [{ role: 'user', content: 'Hi' }], mock_response: 'ok' });
    assert.equal(r.choices[0].message.content, 'ok');
  });

  test('openai through the mock upstream, and an error class', async () => {
    const session = await mock.session([
      { json: openaiCompletion('from esm') },
      { status: 429, json: { error: { message: 'slow down', type: 'rate_limit_error' } } },
    ]);
    const r = await invoke('openai', { model: 'gpt-4o-mini', prompt: 'Hi', ...viaSession(session) });
    assert.equal(r.choices[0].message.content, 'from esm');
    await assert.rejects(
      invoke('openai', { model: 'gpt-4o-mini', prompt: 'Hi', max_retries: 0, ...viaSession(session) }),
      RateLimitError,
    );
    const requests = await mock.requests(session.id);
    assert.equal(requests.length, 2);
    assert.deepEqual(requests[0].json.messages, [{ role: 'user', content: 'Hi' }]);
  });

  test('streams work from an ES module', async () => {
    const stream = await completion({ model: 'mock/demo', prompt: 'Hi', mock_response: 'a b c', stream: true });
    assert.ok(stream instanceof ChatCompletionStream);
    assert.equal(liter.ChatCompletionStream, ChatCompletionStream);
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal(streamChunkBuilder(chunks).choices[0].message.content, 'a b c');
  });
});
