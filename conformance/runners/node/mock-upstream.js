'use strict';

// Starts (or connects to) liter-llm-mock-upstream and drives its control API
// (RUNNER_CONTRACT.md, section 1), as runners/python/mock_upstream.py does.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const DEFAULT_BINARY = path.join(REPO_ROOT, 'core', 'target', 'release', 'liter-llm-mock-upstream');
const SETTLE_TIMEOUT_MS = 5000;
const SETTLE_POLL_MS = 20;
const STARTUP_TIMEOUT_MS = 10000;
const LISTENING = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class MockUpstreamError extends Error {}
MockUpstreamError.prototype.name = 'MockUpstreamError';

class MockUpstream {
  constructor(url, child = null) {
    this.url = url.replace(/\/+$/, '');
    this._child = child;
  }

  /** `LITER_LLM_MOCK_URL` when set, else a server started from `LITER_LLM_MOCK_UPSTREAM` or the release build. */
  static async fromEnvironment(env = process.env) {
    const upstream = env.LITER_LLM_MOCK_URL
      ? new MockUpstream(env.LITER_LLM_MOCK_URL)
      : await MockUpstream.start(env.LITER_LLM_MOCK_UPSTREAM || DEFAULT_BINARY);
    let health;
    try {
      health = await upstream._call('GET', '/__mock/health');
    } catch (error) {
      await upstream.close();
      throw error;
    }
    if (!(health && health.ok === true && Object.keys(health).length === 1)) {
      await upstream.close();
      throw new MockUpstreamError(`${upstream.url}/__mock/health answered ${JSON.stringify(health)}`);
    }
    return upstream;
  }

  static async start(binary) {
    if (!fs.existsSync(binary)) {
      throw new MockUpstreamError(
        `${binary} does not exist; build it with \`cargo build --release -p liter-llm-mock-upstream\` ` +
          'in core/, or set LITER_LLM_MOCK_URL to a running server',
      );
    }
    // With --exit-on-stdin-eof the server ends when this process does, even on a crash.
    const child = spawn(binary, ['--exit-on-stdin-eof'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const line = await new Promise((resolve) => {
      const lines = readline.createInterface({ input: child.stdout });
      const timer = setTimeout(() => resolve(''), STARTUP_TIMEOUT_MS);
      const finish = (text) => {
        clearTimeout(timer);
        lines.close();
        resolve(text);
      };
      lines.once('line', (text) => finish(text.trim()));
      child.once('error', () => finish(''));
      child.once('exit', () => finish(''));
    });
    const match = LISTENING.exec(line);
    if (!match) {
      child.kill();
      throw new MockUpstreamError(
        `${binary} did not announce its address within ${STARTUP_TIMEOUT_MS / 1000}s (got ${JSON.stringify(line)})`,
      );
    }
    return new MockUpstream(match[1], child);
  }

  async close() {
    const child = this._child;
    if (child === null) return;
    this._child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** `127.0.0.1:PORT`, as it appears in URLs and error messages. */
  get authority() {
    return this.url.replace(/^http:\/\//, '');
  }

  sessionUrl(session) {
    return `${this.url}/s/${session}`;
  }

  putSession(session, script) {
    return this._call('PUT', `/__mock/sessions/${session}`, script);
  }

  async requests(session) {
    return (await this._call('GET', `/__mock/sessions/${session}/requests`)).requests;
  }

  /** Resolves once the session's journal has a request, or after `timeoutMs`. */
  async waitForRequest(session, timeoutMs = SETTLE_TIMEOUT_MS) {
    const deadline = performance.now() + timeoutMs;
    while ((await this.requests(session)).length === 0 && performance.now() < deadline) await sleep(SETTLE_POLL_MS);
  }

  /** The journal once no answer is `pending` any more, or as it is after `timeoutMs`. */
  async settledRequests(session, timeoutMs = SETTLE_TIMEOUT_MS) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const journal = await this.requests(session);
      if (journal.every((request) => request.outcome !== 'pending') || performance.now() >= deadline) return journal;
      await sleep(SETTLE_POLL_MS);
    }
  }

  deleteSession(session) {
    return this._call('DELETE', `/__mock/sessions/${session}`);
  }

  /** One control call, straight to 127.0.0.1 with node:http, which never uses a proxy. */
  _call(method, route, body) {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers = data === null ? {} : { 'content-type': 'application/json', 'content-length': data.length };
    return new Promise((resolve, reject) => {
      const request = http.request(`${this.url}${route}`, { method, headers, timeout: 30000 }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode >= 400) {
            reject(new MockUpstreamError(`${method} ${route} answered ${response.statusCode}: ${text}`));
            return;
          }
          try {
            resolve(text ? JSON.parse(text) : null);
          } catch (error) {
            reject(new MockUpstreamError(`${method} ${route} answered with text that is not JSON: ${error.message}`));
          }
        });
        response.on('error', (error) => reject(new MockUpstreamError(`${method} ${route} failed: ${error.message}`)));
      });
      request.on('timeout', () => request.destroy(new Error('no answer within 30 s')));
      request.on('error', (error) => reject(new MockUpstreamError(`${method} ${this.url}${route} failed: ${error.message}`)));
      request.end(data);
    });
  }
}

module.exports = { MockUpstream, MockUpstreamError };
