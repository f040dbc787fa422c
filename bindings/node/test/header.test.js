'use strict';

// The package against include/liter_llm.h, the one description of the C ABI: its koffi
// declarations (lib/abi.js) and its error classes (lib/errors.js). No library is loaded here.

const { test } = require('node:test');
const assert = require('node:assert/strict');

const { ABI_VERSION, DECLARATIONS } = require('../lib/abi');
const { CLASS_BY_KIND } = require('../lib/errors');
const { HEADER, errorKinds, functions, prototype, readHeader } = require('./support/c-header');

const header = readHeader();

// The header's functions this package does not call: the blocking calls, which would block the
// event loop (every call here is asynchronous), and the calls with a callback, which koffi would
// relay from liter-llm's delivery thread while that thread waits (results come through the
// completion queue instead).
const NOT_CALLED = new Set([
  'liter_llm_invoke',
  'liter_llm_client_invoke',
  'liter_llm_invoke_interruptible',
  'liter_llm_client_invoke_interruptible',
  // Audit logs are verified from Python (liter_llm.verify_audit_log); a blocking file read.
  'liter_llm_audit_verify',
  'liter_llm_invoke_async',
  'liter_llm_client_invoke_async',
  'liter_llm_stream',
  'liter_llm_client_stream',
]);

/** Whether a type in a koffi declaration stands for the header's type (lib/abi.js lists the differences). */
function sameType(declared, inHeader) {
  if (declared === inHeader) return true;
  return (declared === 'void *' && inHeader === 'char *') || (declared === 'void * *' && inHeader === 'char * *');
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

test('every function of the header is declared, or is one this package does not call', () => {
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
