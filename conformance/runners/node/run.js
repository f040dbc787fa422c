#!/usr/bin/env node
'use strict';

// Runs the conformance cases through the Node binding.
//
//   node conformance/runners/node/run.js [--cases DIR] [--results FILE] [-k SUBSTRING]
//
// What a runner must do is written in conformance/RUNNER_CONTRACT.md; this file follows it step
// by step, as runners/python/run.py (the reference) does. The binding is bindings/node, or the
// package directory named by LITER_LLM_NODE_BINDING.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const Ajv2020 = require('ajv/dist/2020').default;

const { canonicalJson } = require('./canonical');
const { CaseError, errorMismatches, mismatches } = require('./matcher');
const { MockUpstream, MockUpstreamError } = require('./mock-upstream');
const { UpstreamSpecs } = require('./upstream-specs');

const CONFORMANCE_DIR = path.resolve(__dirname, '..', '..');
const REPO_ROOT = path.resolve(CONFORMANCE_DIR, '..');
const CASE_SCHEMA = path.join(CONFORMANCE_DIR, 'schema', 'case.schema.json');

const PROVIDER_VARIABLES = [
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_BASE_URL',
  'CO_API_KEY',
  'COHERE_API_KEY',
  'CO_API_URL',
  'COHERE_BASE_URL',
];
const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy'];
const BASE_URL_TEMPLATE = '{{base_url}}';

// docs/errors.md: the fields of every error object, and the Node error class of each kind.
const ERROR_FIELDS = ['kind', 'message', 'status', 'provider', 'retry_after', 'provider_error', 'attempts'];
const ERROR_CLASSES = {
  invalid_request: 'BadRequestError',
  authentication: 'AuthenticationError',
  permission_denied: 'PermissionDeniedError',
  not_found: 'NotFoundError',
  rate_limited: 'RateLimitError',
  timeout: 'Timeout',
  connection: 'APIConnectionError',
  provider_unavailable: 'ServiceUnavailableError',
  bad_response: 'BadResponseError',
  unsupported: 'UnsupportedProviderError',
  internal: 'InternalError',
};
// The Node error's property for each field of the error object.
const ERROR_PROPERTIES = {
  kind: 'kind',
  status: 'status',
  provider: 'provider',
  retry_after: 'retryAfter',
  message: 'message',
  attempts: 'attempts',
};
const MAX_SCHEMA_ERRORS_SHOWN = 5;

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

/** `<directory>/<file name without .json>`, with `/` whatever the platform. */
function caseName(casesDir, file) {
  const relative = path.relative(casesDir, file).split(path.sep);
  relative[relative.length - 1] = relative[relative.length - 1].replace(/\.json$/, '');
  return relative.join('/');
}

function findCaseFiles(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findCaseFiles(full));
    else if (entry.name.endsWith('.json')) found.push(full);
  }
  return found;
}

function mapStrings(value, fn) {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, fn));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, fn)]));
  return value;
}

function substitute(value, baseUrl) {
  return mapStrings(value, (text) => text.replaceAll(BASE_URL_TEMPLATE, baseUrl));
}

/** Replaces run-specific strings (session id, mock address) with fixed placeholders. */
function normalise(value, replacements) {
  return mapStrings(value, (text) => {
    for (const [actual, placeholder] of replacements) text = text.replaceAll(actual, placeholder);
    return text;
  });
}

function normalisedResult(result, replacements) {
  const normalised = normalise(result, replacements);
  const stream = isObject(normalised.stream) ? normalised.stream : {};
  const chunks = Array.isArray(stream.chunks) ? stream.chunks : [];
  for (const completion of [normalised.response, stream.assembled, ...chunks]) {
    if (isObject(completion) && Object.hasOwn(completion, 'created')) completion.created = 0;
  }
  return normalised;
}

/** The error object a call ended with, a stream's included; null when there is none. */
function resultError(result) {
  if (Object.hasOwn(result, 'error')) return result.error;
  const stream = isObject(result.stream) ? result.stream : {};
  return Object.hasOwn(stream, 'error') ? stream.error : null;
}

/** The binding's assembler refused the chunks of a stream that ended normally. */
class AssemblyFailed extends Error {}
AssemblyFailed.prototype.name = 'AssemblyFailed';

/**
 * A stream case's call (RUNNER_CONTRACT.md, Streams): `[result, error]`, the `stream` result and
 * the binding's error when the stream ended with one. `inFlight` resolves once the mock has the
 * request. Throws AssemblyFailed when the assembler refuses the chunks of a complete stream.
 */
async function streamCall(binding, provider, request, spec, inFlight) {
  const cancelAfter = spec.cancel_after_chunks ?? null;
  const chunks = [];
  try {
    const stream = await binding.invokeStream(provider, request);
    if (cancelAfter === 0) {
      await inFlight();
      await stream.close();
      return [{ chunks, cancelled: true }, null];
    }
    for await (const chunk of stream) {
      chunks.push(chunk);
      // Leaving the loop closes the stream (and waits until the library has let go of it).
      if (chunks.length === cancelAfter) return [{ chunks, cancelled: true }, null];
    }
  } catch (error) {
    if (error instanceof binding.LiterLlmError) return [{ chunks, error: error.body }, error];
    throw error;
  }
  let assembled;
  try {
    assembled = binding.streamChunkBuilder(chunks);
  } catch (error) {
    if (error instanceof binding.LiterLlmError) throw new AssemblyFailed(`the assembler refused the chunks: ${canonicalJson(error.body)}`);
    throw error;
  }
  return [{ chunks, assembled }, null];
}

function setCaseEnvironment(env) {
  for (const name of PROVIDER_VARIABLES) delete process.env[name];
  Object.assign(process.env, env);
}

/** docs/errors.md: every error object has these fields with these types. */
function errorShapeProblems(error) {
  if (!isObject(error)) return [`the error is not an object: ${JSON.stringify(error)}`];
  const problems = ERROR_FIELDS.filter((name) => !Object.hasOwn(error, name)).map(
    (name) => `$error.${name}: missing (docs/errors.md lists it)`,
  );
  const checks = {
    kind: (value) => Object.hasOwn(ERROR_CLASSES, value),
    message: (value) => typeof value === 'string' && value !== '',
    status: (value) => value === null || Number.isInteger(value),
    provider: (value) => value === null || typeof value === 'string',
    retry_after: (value) => value === null || typeof value === 'number',
    provider_error: (value) => value === null || isObject(value),
    attempts: (value) => Number.isInteger(value) && value >= 0,
  };
  for (const [name, check] of Object.entries(checks)) {
    if (Object.hasOwn(error, name) && !check(error[name])) {
      problems.push(`$error.${name}: ${JSON.stringify(error[name])} is not what docs/errors.md allows`);
    }
  }
  return problems;
}

/** The Node binding's own contract: properties mirror the body, the class matches the kind. */
function nodeErrorProblems(binding, error, body) {
  if (!isObject(body)) return [];
  const problems = [];
  for (const [field, property] of Object.entries(ERROR_PROPERTIES)) {
    const expected = body[field] === undefined ? null : body[field];
    if (error[property] !== expected) {
      problems.push(`error.${property} is ${JSON.stringify(error[property])} but the error body has ${JSON.stringify(expected)}`);
    }
  }
  const className = ERROR_CLASSES[body.kind];
  const expectedClass = className ? binding[className] : undefined;
  if (className && !(typeof expectedClass === 'function' && error instanceof expectedClass)) {
    problems.push(`a ${body.kind} error rejected with ${error.constructor?.name}, not liter-llm's ${className}`);
  }
  return problems;
}

/** Compares a stream's chunks and end with `expect.chunks` and `assembled` / `error` / `cancelled`. */
function streamOutcomeProblems(expect, result) {
  const stream = result.stream;
  if (!isObject(stream)) return [`expected a stream, got ${canonicalJson(result)}`];
  const problems = mismatches(expect.chunks, stream.chunks, '$chunks');
  let ended = 'a normal end';
  if (Object.hasOwn(stream, 'error')) ended = `error ${canonicalJson(stream.error)}`;
  else if (stream.cancelled) ended = 'cancelled';
  if (Object.hasOwn(expect, 'assembled')) {
    if (!Object.hasOwn(stream, 'assembled')) return [...problems, `expected the stream to end normally, it ended with ${ended}`];
    return [...problems, ...mismatches(expect.assembled, stream.assembled, '$assembled')];
  }
  if (Object.hasOwn(expect, 'error')) {
    if (!Object.hasOwn(stream, 'error')) {
      return [...problems, `expected the stream to end with a ${expect.error.kind} error, it ended with ${ended}`];
    }
    return [...problems, ...errorMismatches(expect.error, stream.error)];
  }
  if (!stream.cancelled) problems.push(`expected the runner to abandon the stream, it ended with ${ended}`);
  return problems;
}

/** Compares a response or error with `expect.response` / `expect.error`, or a stream with `expect.chunks` and its end. */
function outcomeProblems(expect, result) {
  if (Object.hasOwn(expect, 'chunks')) return streamOutcomeProblems(expect, result);
  if (Object.hasOwn(result, 'stream')) return [`expected a call, got a stream ${canonicalJson(result)}`];
  if (Object.hasOwn(expect, 'response')) {
    if (Object.hasOwn(result, 'error')) return [`expected a response, got error ${canonicalJson(result.error)}`];
    const response = result.response;
    const problems = mismatches(expect.response, response, '$response');
    if (!(isObject(response) && Array.isArray(response.choices))) {
      problems.push('the response is not an object with a choices array');
    }
    return problems;
  }
  if (Object.hasOwn(result, 'response')) {
    return [`expected a ${expect.error.kind} error, got response ${canonicalJson(result.response)}`];
  }
  return errorMismatches(expect.error, result.error);
}

/** No API key given to the case may appear anywhere in the error object. */
function leakedKeyProblems(env, request, error) {
  const keys = Object.entries(env)
    .filter(([name]) => name.endsWith('_API_KEY'))
    .map(([, value]) => value);
  if (typeof request.api_key === 'string') keys.push(request.api_key);
  const serialised = canonicalJson(error);
  return keys.filter((key) => key && serialised.includes(key)).map((key) => `the error contains the API key ${JSON.stringify(key)}`);
}

function requestProblems(expect, recorded) {
  const expectedRequests = expect.requests ?? [];
  const problems = [];
  const count = expect.request_count ?? expectedRequests.length;
  if (recorded.length !== count) {
    const seen = recorded.map((request) => `${request.method} ${request.path}`).join(', ') || 'none';
    problems.push(`expected ${count} upstream request(s), got ${recorded.length} (${seen})`);
  }
  expectedRequests.forEach((expected, index) => {
    if (index >= recorded.length) {
      problems.push(`$requests[${index}]: expected a request, none was received`);
      return;
    }
    const actual = recorded[index];
    for (const name of ['method', 'path', 'query', 'headers']) {
      if (Object.hasOwn(expected, name)) problems.push(...mismatches(expected[name], actual[name], `$requests[${index}].${name}`));
    }
    if (Object.hasOwn(expected, 'body')) problems.push(...mismatches(expected.body, actual.json, `$requests[${index}].body`));
    if (Object.hasOwn(expected, 'outcome') && expected.outcome !== actual.outcome) {
      problems.push(`$requests[${index}].outcome: expected ${pythonRepr(expected.outcome)}, got ${pythonRepr(actual.outcome)}`);
    }
    if (Object.hasOwn(expected, 'open_ms')) {
      const bound = expected.open_ms;
      if (actual.ended_at_ms === null || actual.ended_at_ms === undefined) {
        problems.push(`$requests[${index}].open_ms: the answer had not ended`);
      } else {
        const openMs = actual.ended_at_ms - actual.received_at_ms;
        if (!(bound.min <= openMs && openMs <= bound.max)) {
          problems.push(`$requests[${index}].open_ms: ${fixed1(openMs)} ms is outside [${bound.min}, ${bound.max}]`);
        }
      }
    }
  });
  if (Object.hasOwn(expect, 'gaps_ms')) {
    const times = recorded.map((request) => request.received_at_ms);
    const gaps = times.slice(1).map((later, index) => later - times[index]);
    const bounds = expect.gaps_ms;
    if (bounds.length !== gaps.length) {
      problems.push(`$gaps_ms: ${bounds.length} bounds for ${gaps.length} gaps between ${recorded.length} requests`);
    }
    for (let index = 0; index < Math.min(gaps.length, bounds.length); index++) {
      const [gap, bound] = [gaps[index], bounds[index]];
      if (!(bound.min <= gap && gap <= bound.max)) {
        problems.push(`$gaps_ms[${index}]: ${fixed1(gap)} ms is outside [${bound.min}, ${bound.max}]`);
      }
    }
  }
  return problems;
}

/**
 * Python's `f"{x:.1f}"`: `toFixed(1)` except on an exact tie (x * 10 ending in .5, i.e. x ending
 * in .25 or .75), which Python rounds to even and `toFixed` away from zero.
 */
function fixed1(x) {
  if (!Number.isFinite(x) || !Number.isInteger(x * 4) || Number.isInteger(x * 2) || Math.abs(x) >= 2 ** 48) return x.toFixed(1);
  const tenths = Math.abs(x * 10) - 0.5; // exact: the lower neighbour, an integer
  const even = tenths % 2 === 0 ? tenths : tenths + 1;
  return `${x < 0 ? '-' : ''}${Math.floor(even / 10)}.${even % 10}`;
}

/**
 * How the reference runner quotes the mock's outcomes (Python's `repr()`): `'completed'`, `None`
 * for null; JSON for anything repr() would quote differently, which the mock never records.
 */
function pythonRepr(value) {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'string' && /^[ -~]*$/.test(value) && !/['\\]/.test(value)) return `'${value}'`;
  return JSON.stringify(value);
}

function schemaProblems(specs, recorded) {
  const problems = [];
  recorded.forEach((request, index) => {
    const where = `$requests[${index}] (${request.method} ${request.path})`;
    const operation = specs.operationFor(request.method, request.path);
    if (operation === null) {
      problems.push(`${where}: no official schema covers this request`);
      return;
    }
    if (request.json === null) {
      problems.push(`${where}: the body is not JSON: ${JSON.stringify(request.body.slice(0, 200))}`);
      return;
    }
    const errors = specs.requestErrors(operation, request.json);
    for (const error of errors.slice(0, MAX_SCHEMA_ERRORS_SHOWN)) {
      problems.push(`${where} breaks the official ${operation.provider} schema at ${error}`);
    }
    if (errors.length > MAX_SCHEMA_ERRORS_SHOWN) {
      problems.push(`${where}: and ${errors.length - MAX_SCHEMA_ERRORS_SHOWN} more schema errors`);
    }
  });
  return problems;
}

async function runCase(testCase, binding, upstream, specs) {
  const outcome = { name: testCase.name, reasons: [], result: null };
  const session = crypto.randomUUID().replaceAll('-', '');
  const baseUrl = upstream.sessionUrl(session);
  const env = substitute(testCase.env ?? {}, baseUrl);
  const request = substitute(testCase.request, baseUrl);
  const expect = testCase.expect;

  await upstream.putSession(session, testCase.upstream ?? { responses: [] });
  setCaseEnvironment(env);
  const results = [];
  let errorProblems = [];
  let recorded;
  const configured = Object.hasOwn(testCase, 'config');
  let calls = testCase.calls ?? 1;
  if (configured) {
    try {
      binding.configure(testCase.config);
    } catch (error) {
      if (!(error instanceof binding.LiterLlmError)) throw error;
      outcome.reasons.push(`configure refused the case's config: ${canonicalJson(error.body)}`);
      results.push(null);
      calls = 0;
    }
  }
  try {
    for (let i = 0; i < calls; i++) {
      if (Object.hasOwn(testCase, 'stream')) {
        try {
          const [streamResult, streamError] = await streamCall(binding, testCase.provider, request, testCase.stream, () =>
            upstream.waitForRequest(session),
          );
          results.push({ stream: streamResult });
          if (streamError !== null) errorProblems = nodeErrorProblems(binding, streamError, streamResult.error);
        } catch (error) {
          results.push(null);
          if (error instanceof AssemblyFailed) outcome.reasons.push(error.message);
          else outcome.reasons.push(`the stream raised ${error?.name ?? typeof error}: ${error?.message ?? error}`);
        }
        continue;
      }
      try {
        results.push({ response: await binding.invoke(testCase.provider, request) });
      } catch (error) {
        if (error instanceof binding.LiterLlmError) {
          results.push({ error: error.body });
          errorProblems = nodeErrorProblems(binding, error, error.body);
        } else {
          results.push(null);
          outcome.reasons.push(`invoke rejected with ${error?.name ?? typeof error} instead of a LiterLlmError: ${error?.message ?? error}`);
        }
      }
    }
  } finally {
    // The next case starts from the built-in configuration, with full rate-limit budgets.
    if (configured && calls > 0) binding.configure({});
    recorded = await upstream.settledRequests(session);
    await upstream.deleteSession(session);
  }

  const replacements = [
    [session, '{{session}}'],
    [upstream.authority, '{{mock_host}}'],
  ];
  const normalised = results.map((result) => (result === null ? null : normalisedResult(result, replacements)));
  const texts = normalised.map((result) => canonicalJson(result));
  if (texts.some((text) => text !== texts[0])) {
    outcome.reasons.push(`${results.length} calls with the same request gave different results: ${texts.join(' vs ')}`);
  }
  const result = results[results.length - 1];
  if (result) outcome.reasons.push(...outcomeProblems(expect, result));
  const error = result ? resultError(result) : null;
  if (error !== null) {
    outcome.reasons.push(...errorShapeProblems(error));
    outcome.reasons.push(...errorProblems);
    outcome.reasons.push(...leakedKeyProblems(env, request, error));
  }

  outcome.reasons.push(...requestProblems(expect, recorded));
  if (testCase.validate_schema ?? true) outcome.reasons.push(...schemaProblems(specs, recorded));

  outcome.result = normalised[normalised.length - 1];
  return outcome;
}

/**
 * Cases may only point at the mock upstream or a closed loopback port, and every provider whose
 * key they set must get a loopback base URL, so that no case, even against a broken core, can
 * send a request to a real provider.
 */
function unsafeBaseUrls(testCase) {
  const env = testCase.env ?? {};
  const request = testCase.request;
  const problems = [];
  const named = Object.entries(env).filter(([name]) => !name.endsWith('_API_KEY'));
  for (const name of ['base_url', 'api_base']) {
    if (Object.hasOwn(request, name)) named.push([`request.${name}`, request[name]]);
  }
  for (const [name, value] of named) {
    if (typeof value !== 'string' || !(value.startsWith(BASE_URL_TEMPLATE) || value.startsWith('http://127.0.0.1:'))) {
      problems.push(`${name} must start with ${BASE_URL_TEMPLATE} or http://127.0.0.1: (got ${JSON.stringify(value)})`);
    }
  }
  if (Object.hasOwn(request, 'base_url') || Object.hasOwn(request, 'api_base')) return problems;
  if (Object.hasOwn(request, 'api_key')) {
    problems.push('a case with request.api_key must also set request.base_url, since the key may reach any adapter');
  }
  const baseUrlVariables = {
    OPENAI_API_KEY: ['OPENAI_BASE_URL'],
    ANTHROPIC_API_KEY: ['ANTHROPIC_BASE_URL'],
    CO_API_KEY: ['CO_API_URL', 'COHERE_BASE_URL'],
    COHERE_API_KEY: ['CO_API_URL', 'COHERE_BASE_URL'],
  };
  for (const [key, urls] of Object.entries(baseUrlVariables)) {
    if (Object.hasOwn(env, key) && !urls.some((url) => Object.hasOwn(env, url))) {
      problems.push(`the case sets ${key}, so it must set ${urls.join(' or ')} (or request.base_url) to a loopback URL`);
    }
  }
  return problems;
}

function loadCase(file, name, validateCase) {
  let testCase;
  try {
    testCase = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    return [null, [`cannot read the case file: ${error.message}`]];
  }
  const problems = validateCase(testCase)
    ? []
    : validateCase.errors.map((error) => `case file breaks case.schema.json at ${error.instancePath || '/'}: ${error.message}`);
  if (problems.length === 0 && testCase.name !== name) {
    problems.push(`the case's name is ${JSON.stringify(testCase.name)} but its file makes it ${JSON.stringify(name)}`);
  }
  if (problems.length === 0) problems.push(...unsafeBaseUrls(testCase));
  return [problems.length ? null : testCase, problems];
}

const USAGE = 'usage: node conformance/runners/node/run.js [--cases DIR] [--results FILE] [-k SUBSTRING]';

/** The contract's arguments, in the spellings argparse accepts: `--cases DIR`, `--cases=DIR`, `-k X`, `-kX`. */
function parseArgs(argv) {
  const args = { cases: path.join(CONFORMANCE_DIR, 'cases'), results: null, nameFilter: '' };
  const options = { '--cases': 'cases', '--results': 'results', '-k': 'nameFilter' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') return { help: true };
    let flag = arg;
    let value;
    if (arg.startsWith('--') && arg.includes('=')) [flag, value] = [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)];
    else if (arg.startsWith('-k') && arg.length > 2) [flag, value] = ['-k', arg.slice(2)];
    if (!Object.hasOwn(options, flag)) throw new Error(`unrecognized argument: ${arg}`);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`argument ${flag}: expected one argument`);
      value = argv[++i];
    }
    args[options[flag]] = value;
  }
  return args;
}

function loadBinding() {
  const dir = process.env.LITER_LLM_NODE_BINDING || path.join(REPO_ROOT, 'bindings', 'node');
  return require(path.resolve(dir));
}

async function main(argv) {
  let args;
  try {
    args = parseArgs(argv);
  } catch (error) {
    console.error(`${USAGE}\nrun.js: error: ${error.message}`);
    return 2;
  }
  if (args.help) {
    console.log(`${USAGE}\n\nRun the liter-llm conformance cases through the Node binding.`);
    return 0;
  }

  const casesDir = path.resolve(args.cases);
  const files = findCaseFiles(casesDir).map((file) => [file, caseName(casesDir, file)]);
  files.sort(([, a], [, b]) => (a < b ? -1 : a > b ? 1 : 0));
  const selected = files.filter(([, name]) => name.includes(args.nameFilter));
  if (selected.length === 0) {
    console.error(`no case under ${casesDir} matches ${JSON.stringify(args.nameFilter)}`);
    return 1;
  }

  let binding;
  try {
    binding = loadBinding();
  } catch (error) {
    console.error(`cannot load the Node binding liter-llm: ${error.message}`);
    return 2;
  }

  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const validateCase = ajv.compile(JSON.parse(fs.readFileSync(CASE_SCHEMA, 'utf8')));
  const specs = new UpstreamSpecs();
  for (const name of PROXY_VARIABLES) delete process.env[name];

  let upstream;
  try {
    upstream = await MockUpstream.fromEnvironment();
  } catch (error) {
    console.error(`cannot start the mock upstream: ${error.message}`);
    return 2;
  }
  const outcomes = [];
  try {
    for (const [file, name] of selected) {
      const [testCase, problems] = loadCase(file, name, validateCase);
      let outcome;
      if (testCase === null) {
        outcome = { name, reasons: problems, result: null };
      } else {
        try {
          outcome = await runCase(testCase, binding, upstream, specs);
        } catch (error) {
          if (error instanceof CaseError) outcome = { name, reasons: [`malformed matcher: ${error.message}`], result: null };
          else if (error instanceof MockUpstreamError) {
            outcome = { name, reasons: [`the mock upstream refused the case: ${error.message}`], result: null };
          } else throw error;
        }
      }
      outcomes.push(outcome);
      if (outcome.reasons.length === 0) {
        console.log(`PASS ${name}`);
      } else {
        console.log(`FAIL ${name}: ${outcome.reasons[0]}`);
        for (const reason of outcome.reasons.slice(1)) console.log(`    ${reason}`);
      }
    }
  } finally {
    await upstream.close();
  }

  if (args.results) {
    const resultsFile = path.resolve(args.results);
    fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
    const lines = outcomes.map(
      (outcome) => `${canonicalJson({ case: outcome.name, ok: outcome.reasons.length === 0, result: outcome.result })}\n`,
    );
    fs.writeFileSync(resultsFile, lines.join(''), 'utf8');
  }

  const failed = outcomes.filter((outcome) => outcome.reasons.length > 0).length;
  console.log(`${outcomes.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(error);
      process.exitCode = 2;
    },
  );
}

module.exports = {
  caseName,
  errorShapeProblems,
  fixed1,
  leakedKeyProblems,
  main,
  nodeErrorProblems,
  normalisedResult,
  outcomeProblems,
  parseArgs,
  pythonRepr,
  requestProblems,
  resultError,
  streamCall,
  streamOutcomeProblems,
  substitute,
  unsafeBaseUrls,
};
