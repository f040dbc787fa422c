'use strict';

// The runner's pieces that need no binding: the matcher and canonical JSON, with the same
// expectations as runners/python/test_matcher.py.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');

const { canonicalJson } = require('../canonical');
const { CaseError, errorMismatches, mismatches } = require('../matcher');

describe('matcher', () => {
  test('objects are subsets', () => {
    assert.deepEqual(mismatches({ a: 1 }, { a: 1, b: 2 }), []);
    assert.deepEqual(mismatches({ a: { b: 'x' } }, { a: { b: 'x', c: null } }), []);
    assert.deepEqual(mismatches({ a: 1, z: 2 }, { a: 1 }), ['$.z: missing, expected 2']);
    assert.deepEqual(mismatches({ a: 1 }, [1]), ['$: expected an object, got [1]']);
  });

  test('arrays need equal length and match element-wise', () => {
    assert.deepEqual(mismatches([{ a: 1 }, 2], [{ a: 1, b: 0 }, 2]), []);
    assert.deepEqual(mismatches([1], [1, 2]), ['$: expected an array of 1 items, got 2: [1,2]']);
    assert.deepEqual(mismatches([1, 2], [1, 3]), ['$[1]: expected 2, got 3']);
  });

  test('scalars', () => {
    assert.deepEqual(mismatches(1, 1.0), []);
    assert.deepEqual(mismatches(0.5, 0.5), []);
    assert.deepEqual(mismatches(1e20, 1e20), []);
    assert.deepEqual(mismatches('a', 'a'), []);
    assert.deepEqual(mismatches(null, null), []);
    assert.deepEqual(mismatches(true, 1), ['$: expected true, got 1']);
    assert.deepEqual(mismatches(1, true), ['$: expected 1, got true']);
    assert.notDeepEqual(mismatches(0, false), []);
    assert.notDeepEqual(mismatches(null, 'null'), []);
    assert.notDeepEqual(mismatches('1', 1), []);
  });

  test('$absent', () => {
    assert.deepEqual(mismatches({ x: { $absent: true } }, { y: 1 }), []);
    assert.deepEqual(mismatches({ x: { $absent: true } }, { x: null }), ['$.x: expected no such member, got null']);
    assert.throws(() => mismatches({ $absent: true }, 1), CaseError);
    assert.throws(() => mismatches([{ $absent: true }], [1]), CaseError);
  });

  for (const [typeName, good, bad] of [
    ['string', 's', 1],
    ['integer', 3, 3.5],
    ['integer', 3.0, true],
    ['number', 3.5, '3.5'],
    ['number', 0, false],
    ['object', {}, []],
    ['array', [], {}],
    ['null', null, 0],
    ['boolean', false, 0],
  ]) {
    test(`$type ${typeName}: ${JSON.stringify(good)} yes, ${JSON.stringify(bad)} no`, () => {
      assert.deepEqual(mismatches({ $type: typeName }, good), []);
      assert.notDeepEqual(mismatches({ $type: typeName }, bad), []);
    });
  }

  test('$contains', () => {
    assert.deepEqual(mismatches({ $contains: 'KEY' }, 'set OPENAI_API_KEY'), []);
    assert.notDeepEqual(mismatches({ $contains: 'KEY' }, 'nothing'), []);
    assert.notDeepEqual(mismatches({ $contains: '1' }, 1), []);
  });

  test('$json', () => {
    const expected = { arguments: { $json: { city: 'Paris' } } };
    assert.deepEqual(mismatches(expected, { arguments: '{"city": "Paris", "unit": "c"}' }), []);
    assert.deepEqual(mismatches(expected, { arguments: '{"city": "Rome"}' }), ['$.arguments<json>.city: expected "Paris", got "Rome"']);
    assert.ok(mismatches(expected, { arguments: '{not json' })[0].startsWith('$.arguments: expected JSON text'));
    assert.ok(mismatches(expected, { arguments: { city: 'Paris' } })[0].startsWith('$.arguments: expected a string'));
  });

  test('operators nest', () => {
    const expected = {
      choices: [
        { message: { tool_calls: [{ id: { $type: 'string' }, function: { arguments: { $json: { n: { $type: 'integer' } } } } }] } },
      ],
    };
    const actual = { choices: [{ message: { tool_calls: [{ id: 'call_1', function: { arguments: '{"n": 2}' } }] } }] };
    assert.deepEqual(mismatches(expected, actual), []);
  });

  test('unknown operators are case errors', () => {
    assert.throws(() => mismatches({ $tpye: 'string' }, 'x'), CaseError);
    assert.throws(() => mismatches({ $type: 'str' }, 'x'), CaseError);
  });

  test('keys that are not identifiers are quoted in paths', () => {
    assert.deepEqual(mismatches({ 'content-type': 'a' }, { 'content-type': 'b' }), ['$["content-type"]: expected "a", got "b"']);
  });

  test('members inherited from Object.prototype are not members', () => {
    assert.deepEqual(mismatches({ toString: { $absent: true } }, {}), []);
    assert.deepEqual(mismatches({ constructor: 1 }, {}), ['$.constructor: missing, expected 1']);
  });

  test('the error matcher', () => {
    const error = { kind: 'authentication', message: 'OPENAI_API_KEY is not set; pass api_key', status: null };
    assert.deepEqual(errorMismatches({ kind: 'authentication', status: null, message_contains: ['OPENAI_API_KEY'] }, error), []);
    assert.deepEqual(errorMismatches({ kind: 'authentication', message_excludes: ['sk-test-'] }, error), []);
    assert.deepEqual(errorMismatches({ kind: 'timeout' }, error), ['$error.kind: expected "timeout", got "authentication"']);
    assert.equal(errorMismatches({ kind: 'authentication', message_contains: ['x'], message_excludes: ['pass'] }, error).length, 2);
  });
});

describe('canonical JSON', () => {
  for (const [value, text] of [
    [20.0, '20'],
    [-0, '0'],
    [1.5, '1.5'],
    [0.1, '0.1'],
    [0.0001, '0.0001'],
    [1e-7, '1e-7'],
    [1.25e-7, '1.25e-7'],
    [123456789.125, '123456789.125'],
    [1e21, '1e+21'],
    [1.5e300, '1.5e+300'],
    [1e20, '100000000000000000000'],
    [2 ** 53, '9007199254740992'],
    [-2.5, '-2.5'],
  ]) {
    test(`${text} is written as ECMAScript writes it`, () => assert.equal(canonicalJson(value), text));
  }

  test('structure: members in UTF-16 order, strings escaped only where JSON requires', () => {
    const value = { b: [1, 2.0, null, true], a: { é: 'ü\n\u2028', '': false }, '\ue000': 1, '\u{1f600}': 2, c: '\u001f"\\' };
    assert.equal(
      canonicalJson(value),
      '{"a":{"":false,"é":"ü\\n\u2028"},"b":[1,2,null,true],"c":"\\u001f\\"\\\\","\u{1f600}":2,"\ue000":1}',
    );
  });

  test('refuses values JSON cannot carry', () => {
    assert.throws(() => canonicalJson(NaN), TypeError);
    assert.throws(() => canonicalJson({ a: undefined }), TypeError);
  });
});
