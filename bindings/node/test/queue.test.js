'use strict';

// The completion queue of each JS thread (lib/native.js): many calls and streams at once, more
// events at one wake-up than one drain takes, worker threads, and exiting with calls pending.

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const koffi = require('koffi');

const liter = require('liter-llm');
const native = require('../lib/native');
const { DECLARATIONS } = require('../lib/abi');
const { startMockUpstream } = require('./support/mock-upstream');
const { openaiCompletion, openaiStream, viaSession } = require('./support/fixtures');

/** Whether the library still has the completion queue `handle` (a drain of capacity 0 says so). */
function queueExists(handle) {
  const drain = koffi.load(native.libraryPath).func(DECLARATIONS.queueDrain);
  return drain(handle, null, null, null, 0) === 0;
}

/** Blocks this thread (its event loop included) for `ms`, so that results pile up in the queue. */
function blockThread(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs a Node script in a child process; resolves with its stdout and exit code. */
function runScript(source, env = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['-e', source],
      { cwd: path.resolve(__dirname, '..'), env: { ...process.env, ...env }, timeout: 30000 },
      (error, stdout, stderr) => {
        if (error && error.code === undefined) reject(error);
        else resolve({ stdout, stderr, code: error ? error.code : 0 });
      },
    );
  });
}

const mockCall = (content) => liter.completion({ model: 'mock/m', prompt: 'Hi', mock_response: content });

async function streamText(stream) {
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  return text;
}

describe('the completion queue', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('many calls and streams in flight at once each get their own result', async () => {
    const sessions = await Promise.all(
      Array.from({ length: 16 }, (_, i) => mock.session([{ json: openaiCompletion(`http ${i}`), delay_ms: 20 * (i % 4) }])),
    );
    const streamSessions = await Promise.all(
      Array.from({ length: 8 }, (_, i) => mock.session([{ status: 200, chunks: openaiStream([`s${i}`, ` word`, ` ${i}`], 5) }])),
    );
    const calls = Array.from({ length: 300 }, (_, i) => mockCall(`answer ${i}`));
    const httpCalls = sessions.map((session) =>
      liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session) }),
    );
    const streams = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) =>
        liter.completion({ model: 'mock/m', prompt: 'Hi', mock_response: `mock stream ${i}`, stream: true }),
      ),
      ...streamSessions.map((session) =>
        liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), stream: true }),
      ),
    ]);
    const [answers, httpAnswers, texts] = await Promise.all([
      Promise.all(calls),
      Promise.all(httpCalls),
      Promise.all(streams.map(streamText)),
    ]);
    assert.deepEqual(
      answers.map((r) => r.choices[0].message.content),
      Array.from({ length: 300 }, (_, i) => `answer ${i}`),
    );
    assert.deepEqual(
      httpAnswers.map((r) => r.choices[0].message.content),
      sessions.map((_, i) => `http ${i}`),
    );
    assert.deepEqual(texts, [
      ...Array.from({ length: 8 }, (_, i) => `mock stream ${i}`),
      ...Array.from({ length: 8 }, (_, i) => `s${i} word ${i}`),
    ]);
    assert.equal(native.pendingCount(), 0);
  });

  test('more events at one wake-up than one drain takes: every one is delivered', async () => {
    // 200 results and 4 streams' chunks land while this thread is blocked, all before one
    // wake-up: the drain loops (64 at a time) until a drain comes back short.
    const calls = Array.from({ length: 200 }, (_, i) => mockCall(`late ${i}`));
    const streams = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        liter.completion({ model: 'mock/m', prompt: 'Hi', mock_response: `a b c d e f g ${i}`, stream: true }),
      ),
    );
    blockThread(500);
    const answers = await Promise.all(calls);
    assert.deepEqual(
      answers.map((r) => r.choices[0].message.content),
      Array.from({ length: 200 }, (_, i) => `late ${i}`),
    );
    assert.deepEqual(
      await Promise.all(streams.map(streamText)),
      Array.from({ length: 4 }, (_, i) => `a b c d e f g ${i}`),
    );
    // The next call after that wake-up still wakes the loop.
    assert.equal((await mockCall('after')).choices[0].message.content, 'after');
    assert.equal(native.pendingCount(), 0);
  });

  test("a stream's chunks and its error drained together: the chunks come first", async () => {
    const session = await mock.session([{ status: 200, chunks: openaiStream(['Hello', ', ', 'world']), disconnect_after_chunks: 2 }]);
    const stream = await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session), stream: true, max_retries: 0 });
    await mock.waitForRequests(session.id, 1);
    blockThread(300);
    const chunks = [];
    const error = await (async () => {
      for await (const c of stream) chunks.push(c.choices[0].delta.content);
    })().then(
      () => assert.fail('the stream ended without an error'),
      (e) => e,
    );
    assert.deepEqual(chunks, ['Hello', ', ']);
    assert.ok(error instanceof liter.APIConnectionError, `${error.name}: ${error.message}`);
  });

  test('each worker thread drains its own queue, freed when the worker exits', async () => {
    const { Worker } = require('node:worker_threads');
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const liter = require(${JSON.stringify(path.resolve(__dirname, '..'))});
      const native = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib', 'native'))});
      (async () => {
        const answers = await Promise.all(Array.from({ length: 50 }, (_, i) =>
          liter.completion({ model: 'mock/m', prompt: 'Hi', mock_response: 'w' + workerData + ' ' + i })));
        let streamed = '';
        const stream = await liter.completion({ model: 'mock/m', prompt: 'Hi', mock_response: 'stream of ' + workerData, stream: true });
        for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
        parentPort.postMessage({ queue: native.queueHandle(), answers: answers.map((r) => r.choices[0].message.content), streamed });
      })();
    `;
    const ours = mockCall('main thread');
    const results = await Promise.all(
      [0, 1, 2].map(
        (n) =>
          new Promise((resolve, reject) => {
            const worker = new Worker(source, { eval: true, workerData: n });
            let message = null;
            worker.once('message', (m) => (message = m));
            worker.once('error', reject);
            worker.once('exit', (code) => (code === 0 ? resolve(message) : reject(new Error(`worker ${n} exited with ${code}`))));
          }),
      ),
    );
    assert.equal((await ours).choices[0].message.content, 'main thread');
    const queues = [native.queueHandle(), ...results.map((r) => r.queue)];
    assert.ok(queues.every((q) => q > 0));
    assert.equal(new Set(queues).size, 4, `one queue per thread: ${queues}`);
    results.forEach((r, n) => {
      assert.deepEqual(
        r.answers,
        Array.from({ length: 50 }, (_, i) => `w${n} ${i}`),
      );
      assert.equal(r.streamed, `stream of ${n}`);
    });
    for (const r of results) assert.ok(!queueExists(r.queue), `worker queue ${r.queue} outlived its worker`);
    assert.ok(queueExists(native.queueHandle()));
  });

  test('a worker thread that exits with calls pending frees its queue; the others go on', async () => {
    const { Worker } = require('node:worker_threads');
    const session = await mock.session([{ json: openaiCompletion('never'), delay_ms: 10000 }], { repeatLast: true });
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const liter = require(${JSON.stringify(path.resolve(__dirname, '..'))});
      const native = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib', 'native'))});
      for (let i = 0; i < 4; i++) liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', api_key: 'k', base_url: workerData }).catch(() => {});
      parentPort.postMessage(native.queueHandle());
      setTimeout(() => process.exit(0), 300);
    `;
    const worker = new Worker(source, { eval: true, workerData: session.baseUrl });
    const queue = await new Promise((resolve) => worker.once('message', resolve));
    const code = await new Promise((resolve) => worker.once('exit', resolve));
    assert.equal(code, 0);
    assert.ok(queue > 0 && !queueExists(queue), 'the worker freed its queue at exit');
    assert.equal((await mockCall('still here')).choices[0].message.content, 'still here');
  });

  test('a worker thread terminated with calls in flight takes nothing down with it', async () => {
    const session = await mock.session([{ json: openaiCompletion('late'), delay_ms: 300 }], { repeatLast: true });
    // In a child process, so that a crash fails the test: the results of the terminated worker's
    // calls arrive after it is gone.
    const script = `
      const { Worker } = require('node:worker_threads');
      const liter = require('liter-llm');
      const worker = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        const { completion } = require('liter-llm');
        for (let i = 0; i < 8; i++) completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', api_key: 'k', base_url: process.env.BASE_URL });
        parentPort.postMessage('started');
      \`, { eval: true });
      worker.once('message', async () => {
        // Terminated once every call has reached the upstream, so that all 8 are in flight.
        for (let i = 0; i < 500; i++) {
          const seen = await (await fetch(process.env.REQUESTS_URL)).json();
          if (seen.requests.length >= 8) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        await worker.terminate();
        await new Promise((r) => setTimeout(r, 800));
        const r = await liter.completion({ model: 'mock/m', prompt: 'x', mock_response: 'main thread fine' });
        console.log(r.choices[0].message.content);
      });
    `;
    const { stdout, stderr, code } = await runScript(script, {
      BASE_URL: session.baseUrl,
      REQUESTS_URL: `${mock.url}/__mock/sessions/${session.id}/requests`,
    });
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), 'main thread fine');
    assert.equal((await mock.requests(session.id)).length, 8);
  });

  test('a script that exits with calls and streams pending exits at once, cleanly', async () => {
    const session = await mock.session([{ json: openaiCompletion('never'), delay_ms: 10000 }], { repeatLast: true });
    const streams = await mock.session([{ status: 200, chunks: openaiStream(['a', 'b'], 10000) }], { repeatLast: true });
    const script = `
      const liter = require('liter-llm');
      const params = { model: 'openai/gpt-4o-mini', prompt: 'Hi', api_key: 'k' };
      for (let i = 0; i < 8; i++) liter.completion({ ...params, base_url: process.env.BASE_URL }).catch(() => {});
      liter.completion({ ...params, base_url: process.env.STREAM_URL, stream: true }).then(async (s) => { for await (const c of s); });
      liter.completion({ model: 'mock/m', prompt: 'Hi', mock_response: 'done' }).then((r) => {
        console.log(r.choices[0].message.content);
        setTimeout(() => { console.log(Date.now()); process.exit(7); }, 300);
      });
    `;
    const { stdout, stderr, code } = await runScript(script, { BASE_URL: session.baseUrl, STREAM_URL: streams.baseUrl });
    const exitedAt = Date.now();
    const [content, at] = stdout.trim().split('\n');
    assert.equal(code, 7, stderr);
    assert.equal(content, 'done');
    assert.ok(exitedAt - Number(at) < 3000, `the process exited ${exitedAt - Number(at)} ms after process.exit()`);
    assert.equal((await mock.requests(session.id)).length, 8);
  });
});
