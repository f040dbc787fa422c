'use strict';

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');

const liter = require('liter-llm');
const { startMockUpstream } = require('./support/mock-upstream');
const { openaiCompletion, viaSession } = require('./support/fixtures');

describe('round trip (CommonJS)', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('the mock provider answers with mock_response', async () => {
    const r = await liter.completion({
      model: 'mock/demo',
      messages: [{ role: 'user', content: 'Hi there' }],
      mock_response: 'Hello from Node',
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'demo');
    assert.match(r.id, /^chatcmpl-mock-/);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(r.choices[0].message.content, 'Hello from Node');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.deepEqual(r.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
  });

  test('invoke with an explicit provider, and non-ASCII text both ways', async () => {
    const r = await liter.invoke('mock', { model: 'm', prompt: 'héllo ✓ 𝄞', mock_response: 'wörld ✓ 𝄞' });
    assert.equal(r.choices[0].message.content, 'wörld ✓ 𝄞');
    const routed = await liter.invoke(null, { model: 'mock/m', prompt: 'x' });
    assert.equal(routed.choices[0].message.content, 'This is a mock response from liter-llm.');
  });

  test('the same request gets the same mock id', async () => {
    const request = { model: 'mock/m', messages: [{ role: 'user', content: 'same' }] };
    const [a, b] = await Promise.all([liter.invoke(undefined, request), liter.invoke(undefined, request)]);
    assert.equal(a.id, b.id);
  });

  test('openai through the mock upstream: the request that arrived and the response', async () => {
    const session = await mock.session([{ json: openaiCompletion('Hi from upstream') }]);
    const r = await liter.completion({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 5,
      temperature: 0.5,
      ...viaSession(session),
    });
    // The body as the upstream sent it, plus what served it.
    assert.deepEqual(r, {
      ...openaiCompletion('Hi from upstream'),
      liter_llm: { provider: 'openai', model: 'openai/gpt-4o-mini', attempts: 1, cache: 'off', cost_usd: 1.95e-6 },
    });

    const [request] = await mock.requests(session.id);
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/chat/completions');
    assert.equal(request.headers.authorization, 'Bearer sk-test-key');
    assert.match(request.headers['content-type'], /^application\/json/);
    // Call configuration stays local; the provider prefix is removed from the model.
    assert.deepEqual(request.json, {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 5,
      temperature: 0.5,
    });
  });

  test('version is the library version', () => {
    assert.match(liter.version, /^\d+\.\d+\.\d+/);
  });
});
