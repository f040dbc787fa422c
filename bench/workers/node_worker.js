'use strict';

// One benchmark worker: one Node client in one fresh process.
//
//   node node_worker.js '<job JSON>'
//
// The job format and the printed result are those of python_worker.py; every mode is async (one
// promise chain per concurrent call). Clients: liter_llm (bindings/node, or the package directory
// named by LITER_LLM_NODE_PACKAGE), liter_llm_mock (the same with the `mock` provider: no HTTP),
// openai (bench/package.json).

const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const API_KEY = 'sk-bench';
const ROOT = path.resolve(__dirname, '..', '..');

// Each factory returns { call, close }: call() resolves with the answer's text.
const literLlmPackage = () => require(process.env.LITER_LLM_NODE_PACKAGE || path.join(ROOT, 'bindings', 'node'));

const FACTORIES = {
  liter_llm(baseUrl, request) {
    const literLlm = literLlmPackage();
    const params = { ...request, model: `openai/${request.model}`, api_key: API_KEY, base_url: baseUrl };
    return {
      call: async () => (await literLlm.completion(params)).choices[0].message.content,
      close: async () => {},
    };
  },
  liter_llm_mock(_baseUrl, request, expect) {
    const literLlm = literLlmPackage();
    const params = { ...request, model: `mock/${request.model}`, mock_response: expect };
    return {
      call: async () => (await literLlm.completion(params)).choices[0].message.content,
      close: async () => {},
    };
  },
  openai(baseUrl, request) {
    const { default: OpenAI } = require('openai');
    const client = new OpenAI({ baseURL: baseUrl, apiKey: API_KEY, maxRetries: 0 });
    return {
      call: async () => (await client.chat.completions.create(request)).choices[0].message.content,
      close: async () => {},
    };
  },
};

/** VmHWM; see peak_rss_kb() in python_worker.py for why not process.resourceUsage().maxRSS. */
const peakRssKb = () => {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Number(line.split(/\s+/)[1]);
};

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** Voluntary context switches of the whole process (every thread), from getrusage. */
const voluntarySwitches = () => process.resourceUsage().voluntaryContextSwitches;

class Tally {
  constructor(expect) {
    this.expect = expect;
    this.latencies = [];
    this.errors = 0;
    this.firstError = null;
  }

  failed(what) {
    this.errors += 1;
    if (this.firstError === null) this.firstError = String(what).slice(0, 300);
  }

  check(text) {
    if (text !== this.expect) this.failed(`unexpected answer ${JSON.stringify(text).slice(0, 80)}`);
  }
}

const timeBox = (seconds) => {
  const deadline = performance.now() + seconds * 1000;
  return () => performance.now() < deadline;
};

const callBudget = (calls) => {
  let issued = 0;
  return () => issued++ < calls;
};

/** Runs `concurrency` loops of calls while `more()`; resolves with the wall time in seconds. */
async function run(call, concurrency, more, tally) {
  const began = performance.now();
  const loop = async () => {
    while (more()) {
      const started = performance.now();
      try {
        tally.check(await call());
      } catch (error) {
        tally.failed(`${error?.name}: ${error?.message}`);
      }
      tally.latencies.push((performance.now() - started) / 1000);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return (performance.now() - began) / 1000;
}

function percentile(sorted, fraction) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

/** Warms up for `warmupS`, then measures the calls made while `more()`. */
async function measure(job, baseUrl, concurrency, warmupS, more) {
  const { call, close } = FACTORIES[job.client](baseUrl, job.request, job.expect);
  await run(call, concurrency, timeBox(warmupS), new Tally(job.expect));
  const tally = new Tally(job.expect);
  const cpu0 = cpuSeconds();
  const switches0 = voluntarySwitches();
  const wall = await run(call, concurrency, more(), tally);
  const cpu = cpuSeconds() - cpu0;
  const switches = voluntarySwitches() - switches0;
  await close();
  return { tally, wall, cpu, switches };
}

async function measureCell(job, cell) {
  const { tally, wall, cpu, switches } = await measure(job, cell.base_url, cell.concurrency, cell.warmup_s, () =>
    timeBox(cell.duration_s),
  );
  const latencies = tally.latencies.sort((a, b) => a - b);
  const n = latencies.length;
  return {
    id: cell.id,
    requests: n,
    errors: tally.errors,
    first_error: tally.firstError,
    wall_s: wall,
    cpu_s: cpu,
    throughput: wall > 0 ? n / wall : 0,
    cpu_us_per_req: n ? (cpu / n) * 1e6 : null,
    voluntary_switches_per_req: n ? switches / n : null,
    p50_ms: percentile(latencies, 0.5) * 1e3,
    p99_ms: percentile(latencies, 0.99) * 1e3,
  };
}

async function measureMemory(job) {
  const { tally, wall } = await measure(job, job.base_url, job.concurrency, 0, () => callBudget(job.memory_calls));
  return {
    calls: tally.latencies.length,
    errors: tally.errors,
    first_error: tally.firstError,
    wall_s: wall,
    peak_rss_kb: peakRssKb(),
  };
}

async function main() {
  const job = JSON.parse(process.argv[2]);
  let result;
  if (job.memory_calls !== undefined) {
    result = await measureMemory(job);
  } else {
    const cells = [];
    for (const cell of job.cells) cells.push(await measureCell(job, cell));
    result = { cells };
  }
  // Exit explicitly: a client may hold the event loop open after its last call.
  process.stdout.write(JSON.stringify(result), () => process.exit(0));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
