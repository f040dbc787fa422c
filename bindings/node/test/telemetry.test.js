'use strict';

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');

const liter = require('liter-llm');
const { startMockUpstream } = require('./support/mock-upstream');
const { openaiCompletion } = require('./support/fixtures');

describe('flushTelemetry()', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('with nothing to send it resolves true', async () => {
    assert.equal(await liter.flushTelemetry(), true);
    assert.equal(await liter.flushTelemetry(0), true);
  });

  test('a timeout that is not a whole number of milliseconds in range is a RangeError', () => {
    for (const bad of [-1, 1.5, 3_600_001, '100', null, Number.NaN]) {
      assert.throws(() => liter.flushTelemetry(bad), RangeError, String(bad));
    }
  });

  test('a receiver that never answers: false after the timeout, and the event loop kept running', async () => {
    // A receiver that accepts connections and never answers them.
    const sockets = new Set();
    const receiver = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${receiver.address().port}`;
    const client = new liter.Client({ telemetry: { endpoint } });
    try {
      const { baseUrl } = await mock.session([{ json: openaiCompletion('hi') }]);
      const r = await client.completion({ model: 'openai/gpt-4o-mini', prompt: 'x', api_key: 'sk-test-node', base_url: baseUrl });
      assert.equal(r.choices[0].message.content, 'hi');
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 20);
      const started = Date.now();
      const sent = await liter.flushTelemetry(400);
      clearInterval(ticker);
      assert.equal(sent, false, 'the span could not be delivered');
      assert.ok(Date.now() - started >= 350, 'it waited out its timeout');
      assert.ok(ticks >= 5, `the event loop ran while it waited (${ticks} ticks)`);
      assert.ok(sockets.size >= 1, 'the export reached the receiver');
    } finally {
      await client.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
