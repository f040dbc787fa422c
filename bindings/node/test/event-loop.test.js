'use strict';

const { after, before, describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');

const liter = require('liter-llm');
const { startMockUpstream } = require('./support/mock-upstream');
const { openaiCompletion, viaSession } = require('./support/fixtures');

/** Runs a Node script in a child process; resolves with its stdout and when it exited. */
function runScript(source, env = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['-e', source],
      { cwd: path.resolve(__dirname, '..'), env: { ...process.env, ...env }, timeout: 30000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`the script failed: ${error.message}\n${stderr}`));
        else resolve({ stdout, exitedAt: Date.now() });
      },
    );
    child.stdin.end();
  });
}

describe('the event loop', () => {
  let mock;
  before(async () => {
    mock = await startMockUpstream();
  });
  after(async () => {
    await mock?.close();
  });

  test('a timer keeps ticking while a slow (1 s) upstream call runs', async () => {
    const session = await mock.session([{ json: openaiCompletion('slow'), delay_ms: 1000 }]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = Date.now();
    try {
      const r = await liter.completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', ...viaSession(session) });
      assert.equal(r.choices[0].message.content, 'slow');
    } finally {
      clearInterval(timer);
    }
    assert.ok(Date.now() - started >= 950, 'the upstream really was slow');
    // About 50 ticks fit in a second; a blocked loop would give none.
    assert.ok(ticks >= 10, `only ${ticks} ticks during the call`);
  });

  test('64 concurrent calls to an upstream that takes 200 ms overlap', async () => {
    const session = await mock.session([{ json: openaiCompletion('ok'), delay_ms: 200 }], { repeatLast: true });
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        liter.completion({ model: 'openai/gpt-4o-mini', prompt: `call ${i}`, ...viaSession(session) }),
      ),
    );
    const elapsed = Date.now() - started;
    assert.equal(results.length, 64);
    for (const r of results) assert.equal(r.choices[0].message.content, 'ok');
    const requests = await mock.requests(session.id);
    assert.equal(requests.length, 64);
    assert.deepEqual(
      requests.map((r) => r.json.messages[0].content).sort(),
      Array.from({ length: 64 }, (_, i) => `call ${i}`).sort(),
    );
    // One after another they would take 12.8 s.
    assert.ok(elapsed < 3000, `64 calls took ${elapsed} ms`);
  });

  test('a script waits for its pending call, then exits promptly after it', async () => {
    const session = await mock.session([{ json: openaiCompletion('answered'), delay_ms: 500 }]);
    const script = `
      const { completion } = require('liter-llm');
      completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', api_key: 'k', base_url: process.env.BASE_URL })
        .then((r) => console.log(JSON.stringify({ content: r.choices[0].message.content, at: Date.now() })));
    `;
    const { stdout, exitedAt } = await runScript(script, { BASE_URL: session.baseUrl });
    const printed = JSON.parse(stdout.trim());
    assert.equal(printed.content, 'answered', 'the process stayed alive for the pending call');
    assert.ok(exitedAt - printed.at < 2000, `the process exited ${exitedAt - printed.at} ms after its last call`);
  });

  test('a script that calls again after an idle moment waits for that call too, then exits', async () => {
    const session = await mock.session([{ json: openaiCompletion('again'), delay_ms: 300 }], { repeatLast: true });
    const script = `
      const { completion } = require('liter-llm');
      const params = { model: 'openai/gpt-4o-mini', prompt: 'Hi', api_key: 'k', base_url: process.env.BASE_URL };
      completion(params).then(() =>
        setTimeout(() => completion(params).then((r) =>
          console.log(JSON.stringify({ content: r.choices[0].message.content, at: Date.now() }))), 50));
    `;
    const { stdout, exitedAt } = await runScript(script, { BASE_URL: session.baseUrl });
    const printed = JSON.parse(stdout.trim());
    assert.equal(printed.content, 'again', 'the process stayed alive for the second call');
    assert.equal((await mock.requests(session.id)).length, 2);
    assert.ok(exitedAt - printed.at < 2000, `the process exited ${exitedAt - printed.at} ms after its last call`);
  });

  test('a script whose call was aborted exits promptly too', async () => {
    const session = await mock.session([{ json: openaiCompletion('never'), delay_ms: 10000 }]);
    const script = `
      const { completion } = require('liter-llm');
      completion({ model: 'openai/gpt-4o-mini', prompt: 'Hi', api_key: 'k', base_url: process.env.BASE_URL,
                   signal: AbortSignal.timeout(200) })
        .catch((e) => console.log(JSON.stringify({ name: e.name, at: Date.now() })));
    `;
    const { stdout, exitedAt } = await runScript(script, { BASE_URL: session.baseUrl });
    const printed = JSON.parse(stdout.trim());
    assert.equal(printed.name, 'AbortError');
    assert.ok(exitedAt - printed.at < 2000, `the process exited ${exitedAt - printed.at} ms after its last call`);
  });
});
