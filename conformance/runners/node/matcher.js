'use strict';

// The subset matcher of the conformance cases (RUNNER_CONTRACT.md, "Matching"), as
// runners/python/matcher.py implements it. `mismatches(expected, actual)` returns one line per
// difference, each starting with the JSON path where it was found; empty means a match.

const OPERATORS = ['$absent', '$type', '$contains', '$json'];

/** The expected value itself is malformed (a case bug, not a mismatch). */
class CaseError extends Error {}
CaseError.prototype.name = 'CaseError';

const isNumber = (value) => typeof value === 'number';
const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

const TYPE_CHECKS = {
  string: (value) => typeof value === 'string',
  integer: (value) => isNumber(value) && Number.isInteger(value),
  number: isNumber,
  object: isObject,
  array: Array.isArray,
  null: (value) => value === null,
  boolean: (value) => typeof value === 'boolean',
};

/** The operator name when `expected` is an operator object, else null. */
function operatorOf(expected) {
  if (isObject(expected)) {
    const keys = Object.keys(expected);
    if (keys.length === 1) {
      const [key] = keys;
      if (OPERATORS.includes(key)) return key;
      if (key.startsWith('$')) throw new CaseError(`unknown matcher operator ${JSON.stringify(key)}; known: ${OPERATORS.join(', ')}`);
    }
  }
  return null;
}

function sortedKeys(value) {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (!isObject(value)) return value;
  const sorted = {};
  for (const key of Object.keys(value).sort()) sorted[key] = sortedKeys(value[key]);
  return sorted;
}

function show(value) {
  const text = value === undefined ? 'undefined' : JSON.stringify(sortedKeys(value));
  return text.length <= 200 ? text : `${text.slice(0, 197)}...`;
}

function scalarEqual(expected, actual) {
  if (isNumber(expected) || isNumber(actual)) return isNumber(expected) && isNumber(actual) && expected === actual;
  return typeof expected === typeof actual && expected === actual;
}

// Python's str.isidentifier(), near enough for the paths of messages.
const IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;

function mismatches(expected, actual, path = '$') {
  const operator = operatorOf(expected);
  if (operator === '$absent') throw new CaseError(`${path}: $absent only makes sense as the value of an object member`);
  if (operator === '$type') {
    const wanted = expected.$type;
    if (!Object.hasOwn(TYPE_CHECKS, wanted)) throw new CaseError(`${path}: unknown $type ${JSON.stringify(wanted)}`);
    return TYPE_CHECKS[wanted](actual) ? [] : [`${path}: expected a value of type ${wanted}, got ${show(actual)}`];
  }
  if (operator === '$contains') {
    const needle = expected.$contains;
    if (typeof actual === 'string' && actual.includes(needle)) return [];
    return [`${path}: expected a string containing ${show(needle)}, got ${show(actual)}`];
  }
  if (operator === '$json') {
    if (typeof actual !== 'string') return [`${path}: expected a string of JSON text, got ${show(actual)}`];
    let parsed;
    try {
      parsed = JSON.parse(actual);
    } catch (error) {
      return [`${path}: expected JSON text, got ${show(actual)} (${error.message})`];
    }
    return mismatches(expected.$json, parsed, `${path}<json>`);
  }

  if (isObject(expected)) {
    if (!isObject(actual)) return [`${path}: expected an object, got ${show(actual)}`];
    const found = [];
    for (const [key, expectedValue] of Object.entries(expected)) {
      const memberPath = IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      if (operatorOf(expectedValue) === '$absent') {
        if (Object.hasOwn(actual, key)) found.push(`${memberPath}: expected no such member, got ${show(actual[key])}`);
      } else if (!Object.hasOwn(actual, key)) {
        found.push(`${memberPath}: missing, expected ${show(expectedValue)}`);
      } else {
        found.push(...mismatches(expectedValue, actual[key], memberPath));
      }
    }
    return found;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${path}: expected an array, got ${show(actual)}`];
    if (expected.length !== actual.length) {
      return [`${path}: expected an array of ${expected.length} items, got ${actual.length}: ${show(actual)}`];
    }
    return expected.flatMap((item, index) => mismatches(item, actual[index], `${path}[${index}]`));
  }
  return scalarEqual(expected, actual) ? [] : [`${path}: expected ${show(expected)}, got ${show(actual)}`];
}

/** Matches an `expect.error` object: subset fields plus `message_contains` / `message_excludes`. */
function errorMismatches(expected, actual) {
  const { message_contains: contains = [], message_excludes: excludes = [], ...fields } = expected;
  const found = mismatches(fields, actual, '$error');
  const message = isObject(actual) ? actual.message : undefined;
  if (typeof message !== 'string') {
    if (contains.length || excludes.length) found.push(`$error.message: expected a string, got ${show(message ?? null)}`);
    return found;
  }
  for (const needle of contains) {
    if (!message.includes(needle)) found.push(`$error.message: expected it to contain ${show(needle)}, got ${show(message)}`);
  }
  for (const needle of excludes) {
    if (message.includes(needle)) found.push(`$error.message: must not contain ${show(needle)}, got ${show(message)}`);
  }
  return found;
}

module.exports = { CaseError, mismatches, errorMismatches };
