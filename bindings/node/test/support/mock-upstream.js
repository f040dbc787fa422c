'use strict';

// Starts core/mock-upstream (the scriptable stand-in for provider APIs) for one test file.
// A missing binary fails the tests that need it: it is built by
// `cd core && cargo build --release -p liter-llm-mock-upstream`.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const DEFAULT_BINARY = path.resolve(__dirname, '..', '..', '..', '..', 'core', 'target', 'release', 'liter-llm-mock-upstream');

let sessionCounter = 0;

async function startMockUpstream() {
  const binary = process.env.LITER_LLM_MOCK_UPSTREAM || DEFAULT_BINARY;
  if (!fs.existsSync(binary)) {
    throw new Error(
      `the mock upstream is not built at ${binary}; build it with ` +
        '`cd core && cargo build --release -p liter-llm-mock-upstream` or set LITER_LLM_MOCK_UPSTREAM',
    );
  }
  // --exit-on-stdin-eof: if this test process dies, the server goes with it.
  const child = spawn(binary, ['--exit-on-stdin-eof', '--max-lifetime-secs', '600'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the mock upstream exited with code ${code} before listening`)));
    lines.once('line', (line) => {
      const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line.trim());
      if (match) resolve(match[1]);
      else reject(new Error(`unexpected first line from the mock upstream: ${line}`));
    });
  });

  async function control(method, route, body) {
    const response = await fetch(`${url}/__mock/${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`mock upstream ${method} ${route}: HTTP ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  return {
    url,
    /** Scripts a new session; resolves with its id and the base URL to give liter-llm. */
    async session(responses, { repeatLast = false } = {}) {
      const id = `node-${process.pid}-${++sessionCounter}`;
      await control('PUT', `sessions/${id}`, { responses, repeat_last: repeatLast });
      return { id, baseUrl: `${url}/s/${id}` };
    },
    /** The requests a session received, in order. */
    async requests(id) {
      return (await control('GET', `sessions/${id}/requests`)).requests;
    },
    /** The requests once at least `count` have reached the session (polled for up to 5 s). */
    async waitForRequests(id, count) {
      for (let i = 0; i < 500; i++) {
        const requests = (await control('GET', `sessions/${id}/requests`)).requests;
        if (requests.length >= count) return requests;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`${count} request(s) never reached the mock upstream session ${id}`);
    },
    /** The requests once every answer has ended (no `outcome` is `pending`), or after 5 s. */
    async settledRequests(id) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const requests = (await control('GET', `sessions/${id}/requests`)).requests;
        if (requests.every((r) => r.outcome !== 'pending') || Date.now() > deadline) return requests;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise((resolve) => {
          child.once('exit', resolve);
          setTimeout(() => child.kill(), 2000).unref();
        });
      }
    },
  };
}

module.exports = { startMockUpstream };
