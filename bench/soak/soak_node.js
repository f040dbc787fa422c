'use strict';

// The soak driver for Node: MOCK_CALLS calls through the `mock` provider and HTTP_CALLS calls to
// the mock upstream's chaos mode, interleaved (one HTTP call in six), 64 promise workers, in 50
// rounds; after each round (every call of it ended) samples resident memory, open descriptors
// and threads (after a full collection). Prints one JSON object (see bench/soak/run.py).

const fs = require('node:fs');
const path = require('node:path');

const liter = require(path.resolve(__dirname, '..', '..', 'bindings', 'node'));

const ROUNDS = 50;
const WORKERS = 64;

function sample() {
  // Retained memory, not garbage the collector has not got to yet (run with --expose-gc).
  global.gc();
  const rss = Number(fs.readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
  const threads = Number(/^Threads:\s+(\d+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
  let fds = 0;
  let sockets = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const link = fs.readlinkSync(`/proc/self/fd/${fd}`);
      fds += 1;
      if (link.startsWith('socket:')) sockets += 1;
    } catch {
      // the descriptor readdir itself used, closed since
    }
  }
  return { rss, fds, sockets, threads };
}

async function one(client, i, chaosUrl, counts) {
  const http = i % 6 === 5;
  const kind = http ? Math.floor(i / 6) % 10 : i % 10;
  const request = http
    ? { model: 'openai/gpt-chaos', api_key: 'sk-test-soak', base_url: chaosUrl, timeout: 0.25 }
    : { model: 'mock/soak' };
  request.messages = [{ role: 'user', content: `soak ${i % 97}` }];
  if (!http && kind === 7) request.temperature = 'warm'; // an invalid request: a typed error
  try {
    if (kind === 5 || kind === 6 || kind === 9) {
      const stream = await client.completion({ ...request, stream: true });
      for await (const chunk of stream) {
        if (kind === 9 && chunk) break; // abandoned after the first chunk: cancels the rest
      }
      await stream.close();
    } else if (kind === 8) {
      const controller = new AbortController();
      const call = client.completion({ ...request, signal: controller.signal });
      controller.abort();
      await call;
    } else {
      await client.completion(request);
    }
    counts.result = (counts.result ?? 0) + 1;
  } catch (error) {
    if (!(error instanceof liter.LiterLlmError)) throw error;
    counts[error.kind] = (counts[error.kind] ?? 0) + 1;
  }
}

async function main() {
  const [mockCalls, httpCalls] = process.argv.slice(2, 4).map(Number);
  const chaosUrl = process.argv[4];
  const total = mockCalls + httpCalls;
  const counts = {};
  const samples = [];
  const started = Date.now();
  // The runtime (its threads and descriptors) is the process's, started by the first HTTP call.
  const first = new liter.Client({});
  await one(first, 5, chaosUrl, {});
  await first.close();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = sample();
  const client = new liter.Client({});
  for (let r = 0; r < ROUNDS; r++) {
    const end = Math.floor((total * (r + 1)) / ROUNDS);
    let next = Math.floor((total * r) / ROUNDS);
    const worker = async () => {
      while (next < end) await one(client, next++, chaosUrl, counts);
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    samples.push({ calls: end, seconds: (Date.now() - started) / 1000, ...sample() });
  }
  await client.close();
  let afterClose = sample();
  for (let i = 0; i < 100 && afterClose.fds > before.fds; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    afterClose = sample();
  }
  process.stdout.write(`${JSON.stringify({ binding: 'node', before, after_close: afterClose, samples, counts })}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
