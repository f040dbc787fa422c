'use strict';

// Cache benchmark worker (Node): `node node_worker.js '<job JSON>'`; the job and the output are
// py_worker.py's. Calls are awaited one after the other (concurrency 1).

const path = require('node:path');
const { performance } = require('node:perf_hooks');

const literLlm = require(path.resolve(__dirname, '..', '..', 'bindings', 'node'));

function cpuSeconds() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

async function main() {
  const job = JSON.parse(process.argv[2]);
  const { prompt, ...request } = job.request;
  const client = new literLlm.Client(job.config);
  try {
    for (let i = 0; i < job.warmup; i++) {
      await client.completion({ ...request, prompt: job.vary ? `${prompt} w${i}` : prompt });
    }
    const prompts = Array.from({ length: job.calls }, (_, i) => (job.vary ? `${prompt} ${i}` : prompt));
    const statuses = new Set();
    let cpu = cpuSeconds();
    let wall = performance.now();
    for (const p of prompts) {
      statuses.add((await client.completion({ ...request, prompt: p })).liter_llm.cache);
    }
    cpu = cpuSeconds() - cpu;
    wall = (performance.now() - wall) / 1e3;
    const n = job.calls;
    console.log(JSON.stringify({ cpu_us: (cpu * 1e6) / n, wall_us: (wall * 1e6) / n, statuses: [...statuses].sort() }));
  } finally {
    client.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
