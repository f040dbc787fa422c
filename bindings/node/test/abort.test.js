'use strict';

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');

const liter = require('liter-llm');
const native = require('../lib/native');
const { startMockUpstream } = require('./support/mock-upstream');
const { openaiCompletion, viaSession } = require('./support/fixtures');

const { AbortError, LiterLlmError } = liter;

describe('AbortSignal', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('aborting a running call cancels it: AbortError, after the request reached the upstream', async () => {
    const session = await mock.session([{ json: openaiCompletion('too late'), delay_ms: 10000 }]);
    const controller = new AbortController();
    const started = Date.now();
    const call = liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), signal: controller.signal });
    const [request] = await mock.waitForRequests(session.id, 1);
    assert.equal(request.path, '/chat/completions');
    const reason = new Error('user pressed stop');
    controller.abort(reason);
    const error = await call.then(
      () => assert.fail('the call succeeded'),
      (e) => e,
    );
    assert.ok(error instanceof AbortError);
    assert.ok(error instanceof LiterLlmError);
    assert.equal(error.name, 'AbortError');
    assert.equal(error.code, 'ABORT_ERR');
    assert.equal(error.kind, 'cancelled');
    assert.equal(error.cause, reason);
    assert.ok(Date.now() - started < 5000, 'the call did not wait for the upstream');
    // The promise settled on the call's one callback: nothing is left outstanding in the library.
    assert.equal(native.pendingCount(), 0);
  });

  test('a signal aborted before the call rejects at once and sends nothing', async () => {
    const session = await mock.session([{ json: openaiCompletion('never') }]);
    const signal = AbortSignal.abort();
    await assert.rejects(
      liter.invoke('openai', { model: 'gpt-4o-mini', prompt: 'Hi', ...viaSession(session) }, { signal }),
      { name: 'AbortError', kind: 'cancelled' },
    );
    await sleep(100);
    assert.deepEqual(await mock.requests(session.id), []);
  });

  test('AbortSignal.timeout() aborts a slow call; its TimeoutError is the cause', async () => {
    const session = await mock.session([{ json: openaiCompletion('slow'), delay_ms: 10000 }]);
    const error = await liter
      .completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), signal: AbortSignal.timeout(200) })
      .catch((e) => e);
    assert.ok(error instanceof AbortError, String(error));
    assert.equal(error.cause.name, 'TimeoutError');
    assert.equal((await mock.requests(session.id)).length, 1);
  });

  test('aborting after the call finished changes nothing, and leaves no listener behind', async () => {
    const session = await mock.session([{ json: openaiCompletion('done') }]);
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const { signal } = controller;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (...args) => (added++, add(...args));
    signal.removeEventListener = (...args) => (removed++, remove(...args));
    const r = await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), signal });
    controller.abort();
    assert.equal(r.choices[0].message.content, 'done');
    assert.equal(added, 1);
    assert.equal(removed, 1);
  });

  test('a worker thread whose aborted calls have settled can be terminated', async () => {
    const session = await mock.session([{ json: openaiCompletion('slow'), delay_ms: 10000 }], { repeatLast: true });
    // In a child process, so that a crash (koffi relaying into a torn-down worker) fails the test.
    const script = `
      const { Worker } = require('node:worker_threads');
      const liter = require('liter-llm');
      const worker = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        const { completion } = require('liter-llm');
        const controller = new AbortController();
        const calls = Array.from({ length: 4 }, () => completion({
          model: 'openai/gpt-4o-mini', prompt: 'Hi', api_key: 'k', base_url: process.env.BASE_URL, signal: controller.signal,
        }).catch((e) => e.name));
        setTimeout(() => controller.abort(), 300);
        Promise.all(calls).then((names) => parentPort.postMessage(names));
      \`, { eval: true });
      worker.once('message', async (names) => {
        await worker.terminate();
        await new Promise((r) => setTimeout(r, 500));
        const r = await liter.completion({ model: 'mock/m', prompt: 'x', mock_response: 'main thread fine' });
        console.log(JSON.stringify({ names, content: r.choices[0].message.content }));
      });
    `;
    const stdout = await new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        ['-e', script],
        { cwd: path.resolve(__dirname, '..'), env: { ...process.env, BASE_URL: session.baseUrl }, timeout: 30000 },
        (error, out, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(out)),
      );
    });
    assert.deepEqual(JSON.parse(stdout), { names: Array(4).fill('AbortError'), content: 'main thread fine' });
    assert.equal((await mock.requests(session.id)).length, 4);
  });

  test('one signal cancels many calls; other calls go on', async () => {
    const slow = await mock.session([{ json: openaiCompletion('slow'), delay_ms: 10000 }], { repeatLast: true });
    const quick = await mock.session([{ json: openaiCompletion('quick'), delay_ms: 300 }]);
    const controller = new AbortController();
    const cancelled = Array.from({ length: 5 }, () =>
      liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(slow), signal: controller.signal }),
    );
    const survivor = liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(quick) });
    await mock.waitForRequests(slow.id, 5);
    controller.abort();
    const results = await Promise.allSettled(cancelled);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.ok(result.reason instanceof AbortError);
    }
    assert.equal((await survivor).choices[0].message.content, 'quick');
  });
});
