'use strict';

// The panic boundary, from Node: a library built with the core's `test-panic` feature panics on
// purpose inside an export (and inside the async task) when the provider is
// "__liter_llm_test_panic__". Every call form must reject with InternalError, and the process
// must go on (a panic crossing into Node would abort it).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { REPOSITORY_ROOT, libraryFileName } = require('../lib/paths');

const PANIC_LIBRARY = path.join(REPOSITORY_ROOT, 'build', 'test-panic', libraryFileName());

const SCRIPT = `
  const liter = require('liter-llm');
  const PANIC = '__liter_llm_test_panic__';
  const request = { model: 'm', prompt: 'Hi' };
  // The core's own error for the panic, not one the binding made up.
  const outcome = (promise) =>
    promise.then(() => 'resolved', (e) => e.name + ': ' + e.kind + (/panicked/.test(e.message) ? ' (panic)' : ': ' + e.message));
  const drain = async (streamPromise) => {
    for await (const chunk of await streamPromise) void chunk;
  };
  (async () => {
    const client = new liter.Client();
    const results = {
      invoke: await outcome(liter.invoke(PANIC, request)),
      invokeStream: await outcome(drain(liter.invokeStream(PANIC, request))),
      clientInvoke: await outcome(client.invoke(PANIC, request)),
      clientInvokeStream: await outcome(drain(client.invokeStream(PANIC, request))),
    };
    await client.close();
    const after = await liter.completion({ model: 'mock/m', prompt: 'Hi', mock_response: 'still alive' });
    results.after = after.choices[0].message.content;
    console.log(JSON.stringify(results));
  })();
`;

test('a panic inside the library rejects with InternalError, and the process goes on', async () => {
  assert.ok(
    fs.existsSync(PANIC_LIBRARY),
    `${PANIC_LIBRARY} is missing: build it with \`cd core && cargo build -p liter-llm-ffi --features test-panic\` ` +
      'and copy core/target/debug/' + libraryFileName() + ' there (`make test-panic-lib` does both)',
  );
  const { code, signal, stdout, stderr } = await new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-e', SCRIPT],
      { cwd: path.resolve(__dirname, '..'), env: { ...process.env, LITER_LLM_LIBRARY: PANIC_LIBRARY }, timeout: 60000 },
      (error, out, err) => resolve({ code: error ? error.code : 0, signal: error?.signal ?? null, stdout: out, stderr: err }),
    );
  });
  assert.equal(signal, null, `the process was killed by ${signal}:\n${stderr}`);
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), {
    invoke: 'InternalError: internal (panic)',
    invokeStream: 'InternalError: internal (panic)',
    clientInvoke: 'InternalError: internal (panic)',
    clientInvokeStream: 'InternalError: internal (panic)',
    after: 'still alive',
  });
});
