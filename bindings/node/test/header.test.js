'use strict';

// The package against include/liter_llm.h, the one description of the C ABI: its koffi
// declarations (lib/abi.js) and its error classes (lib/errors.js). No library is loaded here.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { ABI_VERSION, CALLBACK_DECLARATION, DECLARATIONS } = require('../lib/abi');
const { CLASS_BY_KIND } = require('../lib/errors');
const { HEADER, callbackTypes, errorKinds, functions, prototype, readHeader } = require('./support/c-header');

const header = readHeader();

// The header's functions this package does not call: the blocking calls, which would block the
// event loop (every call here is asynchronous), and the completion queue, whose eventfd a
// JavaScript program cannot watch without a native addon (results come through the callbacks).
const NOT_CALLED = new Set([
  'liter_llm_invoke',
  'liter_llm_client_invoke',
  'liter_llm_invoke_interruptible',
  'liter_llm_client_invoke_interruptible',
  // Audit logs are verified from Python (liter_llm.verify_audit_log); a blocking file read.
  'liter_llm_audit_verify',
  'liter_llm_queue_new',
  'liter_llm_queue_drain',
  'liter_llm_queue_free',
  'liter_llm_invoke_queued',
  'liter_llm_client_invoke_queued',
  'liter_llm_stream_queued',
  'liter_llm_client_stream_queued',
]);

/** Whether a type in a koffi declaration stands for the header's type (lib/abi.js lists the differences). */
function sameType(declared, inHeader) {
  if (declared === inHeader) return true;
  if (declared === 'void *' && inHeader === 'char *') return true;
  return declared === 'LiterLlmCallback *' && inHeader === 'LiterLlmCallback';
}

/** Asserts that a koffi declaration and the header's prototype agree. */
function assertMatches(declaration, expected) {
  const declared = prototype(declaration);
  assert.ok(declared, `${declaration} is not a prototype`);
  assert.equal(declared.name, expected.name);
  assert.ok(sameType(declared.returns, expected.returns), `${expected.name} returns ${expected.returns} in ${HEADER}, declared ${declared.returns}`);
  assert.equal(
    declared.params.length,
    expected.params.length,
    `${expected.name} takes ${expected.params.length} parameters in the header, declared with ${declared.params.length}`,
  );
  declared.params.forEach((param, i) => {
    const want = expected.params[i];
    assert.equal(param.name, want.name, `${expected.name}: parameter ${i + 1} is ${want.name} in the header`);
    assert.ok(sameType(param.type, want.type), `${expected.name}(${want.name}): ${want.type} in the header, declared ${param.type}`);
    if (param.direction === '_Out_') assert.ok(want.type.endsWith('*'), `${expected.name}(${want.name}) is _Out_ but not a pointer`);
  });
}

test('the header declares the ABI version this package speaks', () => {
  const declared = /#define LITER_LLM_ABI_VERSION (\d+)/.exec(header);
  assert.ok(declared, `${HEADER} defines LITER_LLM_ABI_VERSION`);
  assert.equal(ABI_VERSION, Number(declared[1]));
});

test('the header parser reads every prototype, including ones split over lines', () => {
  const found = functions(header);
  assert.ok(found.size >= 10, `only ${found.size} functions read from ${HEADER}`);
  assert.deepEqual(found.get('liter_llm_invoke_async').params.map((p) => `${p.type} ${p.name}`), [
    'const char * provider',
    'const char * json_request',
    'LiterLlmCallback callback',
    'void * user_data',
  ]);
  assert.deepEqual(found.get('liter_llm_version'), { name: 'liter_llm_version', returns: 'const char *', params: [] });
});

test('every koffi declaration matches its prototype in the header', () => {
  const found = functions(header);
  for (const declaration of Object.values(DECLARATIONS)) {
    const { name } = prototype(declaration);
    assert.ok(found.has(name), `the package calls ${name}, which ${HEADER} does not declare`);
    assertMatches(declaration, found.get(name));
  }
});

test('the callback type matches LiterLlmCallback in the header', () => {
  const callback = callbackTypes(header).get('LiterLlmCallback');
  assert.ok(callback, `${HEADER} declares the LiterLlmCallback typedef`);
  assertMatches(CALLBACK_DECLARATION, callback);
});

test('every function of the header is declared, or is a blocking call this package does not make', () => {
  const declared = new Set(Object.values(DECLARATIONS).map((declaration) => prototype(declaration).name));
  const unknown = [...functions(header).keys()].filter((name) => !declared.has(name) && !NOT_CALLED.has(name));
  assert.deepEqual(unknown, [], 'functions of the header that lib/abi.js neither declares nor lists as not called');
});

test("the error classes map exactly the header's error kinds, each to its own class", () => {
  const kinds = errorKinds(header);
  assert.ok(kinds.length > 0, `${HEADER} lists the error kinds (LITER_LLM_ERROR_KIND_*)`);
  assert.deepEqual([...CLASS_BY_KIND.keys()].sort(), [...kinds].sort());
  const classes = [...CLASS_BY_KIND.values()];
  assert.equal(new Set(classes).size, classes.length, 'no class serves two kinds');
  for (const [kind, cls] of CLASS_BY_KIND) assert.equal(cls.kind, kind, `${cls.name}.kind`);
});
