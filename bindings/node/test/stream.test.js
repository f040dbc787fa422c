'use strict';

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');

const liter = require('liter-llm');
const native = require('../lib/native');
const { startMockUpstream } = require('./support/mock-upstream');
const { openaiChunk, sse, viaSession } = require('./support/fixtures');

const { AbortError, APIConnectionError, ChatCompletionStream, LiterLlmError } = liter;

function chunk(delta, extra = {}) {
  return { ...openaiChunk(delta), ...extra };
}

const USAGE = { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 };

function openaiChunks(delayOfLast = 0) {
  return [
    { data: sse(chunk({ role: 'assistant', content: 'Hello' })) },
    { data: sse(chunk({ content: ', ' })) },
    { data: sse(chunk({ content: 'world' })) },
    { data: sse({ ...chunk({}), choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }), delay_ms: delayOfLast },
    { data: sse({ ...chunk({}), choices: [], usage: USAGE }) },
    { data: 'data: [DONE]\n\n' },
  ];
}

function text(chunks) {
  return chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
}

describe('streaming', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('the mock provider streams its mock_response', async () => {
    const stream = await liter.completion({ model: 'mock/demo', prompt: 'Hi', mock_response: 'a b c', stream: true });
    assert.ok(stream instanceof ChatCompletionStream);
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.ok(chunks.length >= 2);
    for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(text(chunks), 'a b c');
    assert.equal(liter.streamChunkBuilder(chunks).choices[0].message.content, 'a b c');
    assert.equal(native.pendingCount(), 0);
  });

  test('an OpenAI SSE stream from the upstream is assembled to its full text and usage', async () => {
    const session = await mock.session([{ status: 200, chunks: openaiChunks() }]);
    const stream = await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(text(chunks), 'Hello, world');
    const completion = liter.streamChunkBuilder(chunks);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices[0].message.content, 'Hello, world');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.deepEqual(
      { prompt_tokens: completion.usage.prompt_tokens, completion_tokens: completion.usage.completion_tokens, total_tokens: completion.usage.total_tokens },
      USAGE,
    );
    const [request] = await mock.requests(session.id);
    assert.equal(request.json.stream, true);
  });

  test('invokeStream streams the raw request and leaves it unchanged', async () => {
    const session = await mock.session([{ status: 200, chunks: openaiChunks() }]);
    const request = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], ...viaSession(session) };
    const stream = await liter.invokeStream('openai', request);
    assert.ok(stream instanceof ChatCompletionStream);
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(chunks.length, 5);
    assert.equal(text(chunks.slice(0, 3)), 'Hello, world');
    assert.equal(request.stream, undefined);
    const [recorded] = await mock.requests(session.id);
    assert.equal(recorded.json.stream, true);
    assert.equal(native.pendingCount(), 0);
  });

  test('a broken connection mid-stream is thrown after the chunks already received', async () => {
    const session = await mock.session([{ status: 200, chunks: openaiChunks(), disconnect_after_chunks: 2 }]);
    const stream = await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), stream: true, max_retries: 0 });
    const chunks = [];
    const error = await (async () => {
      for await (const c of stream) chunks.push(c);
    })().then(
      () => assert.fail('the stream ended without an error'),
      (e) => e,
    );
    assert.equal(text(chunks), 'Hello, ');
    assert.ok(error instanceof LiterLlmError, String(error));
    assert.ok(error instanceof APIConnectionError, `${error.name}: ${error.message}`);
    assert.deepEqual(await stream.next(), { value: undefined, done: true });
    assert.equal(native.pendingCount(), 0);
  });

  test('breaking out of the loop cancels the stream at once, without waiting for a slow chunk', async () => {
    const session = await mock.session([{ status: 200, chunks: openaiChunks(5000) }]);
    const stream = await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), stream: true });
    const started = Date.now();
    const chunks = [];
    for await (const c of stream) {
      chunks.push(c);
      if (chunks.length === 3) break;
    }
    assert.equal(text(chunks), 'Hello, world');
    assert.ok(Date.now() - started < 2000, `breaking out took ${Date.now() - started} ms`);
    assert.equal(native.pendingCount(), 0, 'the library let go of the stream');
    assert.deepEqual(await stream.next(), { value: undefined, done: true });
    await stream.close(); // idempotent
    const [request] = await mock.settledRequests(session.id);
    assert.equal(request.outcome, 'client_closed', 'the upstream connection was closed');
    assert.ok(request.ended_at_ms - request.received_at_ms < 2000);
  });

  test('close() before reading cancels the stream', async () => {
    const session = await mock.session([{ status: 200, chunks: openaiChunks(5000) }]);
    const stream = await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), stream: true });
    const started = Date.now();
    await stream.close();
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(await stream.next(), { value: undefined, done: true });
    assert.equal(native.pendingCount(), 0);
    // The request may not have been sent yet; if it was, its connection was closed.
    const requests = await mock.settledRequests(session.id);
    assert.ok(requests.every((r) => r.outcome === 'client_closed'), JSON.stringify(requests));
  });

  test('an AbortSignal cancels a stream: the loop throws AbortError', async () => {
    const session = await mock.session([{ status: 200, chunks: openaiChunks(5000) }]);
    const controller = new AbortController();
    const reason = new Error('stop');
    const stream = await liter.completion({
      model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), stream: true, signal: controller.signal,
    });
    const started = Date.now();
    const chunks = [];
    const error = await (async () => {
      for await (const c of stream) {
        chunks.push(c);
        if (chunks.length === 3) setTimeout(() => controller.abort(reason), 50);
      }
    })().then(
      () => assert.fail('the stream ended without an error'),
      (e) => e,
    );
    assert.ok(error instanceof AbortError, String(error));
    assert.equal(error.code, 'ABORT_ERR');
    assert.equal(error.cause, reason);
    assert.equal(chunks.length, 3);
    assert.ok(Date.now() - started < 2000, `the abort took ${Date.now() - started} ms`);
    assert.equal(native.pendingCount(), 0);
    const [request] = await mock.settledRequests(session.id);
    assert.equal(request.outcome, 'client_closed', 'the upstream connection was closed');
    assert.ok(request.ended_at_ms - request.received_at_ms < 2000);
  });

  test('a signal aborted before the call rejects at once', async () => {
    await assert.rejects(
      liter.completion({ model: 'mock/demo', prompt: 'Hi', stream: true, signal: AbortSignal.abort() }),
      { name: 'AbortError' },
    );
  });

  test('an error before the first chunk is thrown by the loop', async () => {
    const session = await mock.session([{ status: 401, json: { error: { message: 'bad key', type: 'invalid_request_error' } } }]);
    const stream = await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), stream: true });
    await assert.rejects(stream.next(), { name: 'AuthenticationError', status: 401 });
  });

  test('streamChunkBuilder refuses what is not an array', () => {
    assert.throws(() => liter.streamChunkBuilder('x'), TypeError);
  });

  test('a script waits for its stream, then exits promptly', async () => {
    const session = await mock.session([{ status: 200, chunks: openaiChunks(500) }]);
    const script = `
      const { completion } = require('liter-llm');
      (async () => {
        const stream = await completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', api_key: 'k', base_url: process.env.BASE_URL, stream: true });
        let n = 0;
        for await (const c of stream) n++;
        console.log(JSON.stringify({ n, at: Date.now() }));
      })();
    `;
    const { stdout, exitedAt } = await new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        ['-e', script],
        { cwd: path.resolve(__dirname, '..'), env: { ...process.env, BASE_URL: session.baseUrl }, timeout: 30000 },
        (error, out, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve({ stdout: out, exitedAt: Date.now() })),
      );
    });
    const printed = JSON.parse(stdout.trim());
    assert.equal(printed.n, 5);
    assert.ok(exitedAt - printed.at < 2000);
  });
});
