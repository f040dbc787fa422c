'use strict';

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');

const liter = require('liter-llm');
const { startMockUpstream } = require('./support/mock-upstream');

// [0.5, -1.0, 0.25] as little-endian float32, in base64.
const B64 = 'AAAAPwAAgL8AAIA+';

function list(embedding) {
  return {
    json: {
      object: 'list',
      model: 'text-embedding-3-small',
      data: [{ object: 'embedding', index: 0, embedding }],
      usage: { prompt_tokens: 2, total_tokens: 2 },
    },
  };
}

describe('embedding()', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('base64, as the openai SDK asks for it, is passed through; floats are decoded', async () => {
    const { id, baseUrl } = await mock.session([list(B64)], { repeatLast: true });
    const asked = await liter.embedding({
      model: 'openai/text-embedding-3-small',
      input: 'hello',
      encoding_format: 'base64',
      api_key: 'sk-test-node',
      base_url: baseUrl,
    });
    assert.equal(asked.object, 'list');
    assert.equal(asked.data[0].embedding, B64);
    const floats = await liter.embedding({ model: 'openai/text-embedding-3-small', input: ['hello'], api_key: 'sk-test-node', base_url: baseUrl });
    assert.deepEqual(floats.data, [{ object: 'embedding', embedding: [0.5, -1.0, 0.25], index: 0 }]);
    const sent = await mock.requests(id);
    assert.equal(sent[0].path, '/embeddings');
    assert.equal(sent[0].json.encoding_format, 'base64');
    assert.equal(sent[1].json.encoding_format, undefined);
    assert.equal(sent[1].json.operation, undefined);
  });

  test('on a Client, and typed errors', async () => {
    const client = new liter.Client({});
    try {
      const r = await client.embedding({ model: 'mock/e', input: ['a', 'b'], dimensions: 3 });
      assert.deepEqual(r.data.map((d) => d.embedding.length), [3, 3]);
    } finally {
      await client.close();
    }
    const error = await liter.embedding({ model: 'anthropic/claude-x', input: 'x', api_key: 'sk-test-node' }).catch((e) => e);
    assert.ok(error instanceof liter.UnsupportedProviderError, String(error));
    assert.match(error.message, /anthropic has no embeddings API/);
    await assert.rejects(liter.embedding('x'), TypeError);
  });
});
