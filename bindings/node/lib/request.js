'use strict';

// What the arguments of a call become before they reach the core: checked, and encoded as JSON.
// Misuse of the API is a plain TypeError, thrown before anything is sent.

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function checkProvider(provider) {
  if (provider === undefined || provider === null) return null;
  if (typeof provider !== 'string') {
    throw new TypeError(`provider must be a string, null or undefined, not ${describe(provider)}`);
  }
  if (provider.includes('\0')) throw new TypeError('provider must not contain NUL characters');
  return provider;
}

function checkSignal(signal) {
  if (signal === undefined) return undefined;
  if (signal === null || typeof signal !== 'object' || typeof signal.addEventListener !== 'function') {
    throw new TypeError(`signal must be an AbortSignal, not ${describe(signal)}`);
  }
  return signal;
}

function checkOptions(options) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`options must be an object, not ${describe(options)}`);
  }
  return options;
}

// JSON.stringify would turn NaN and Infinity into null and fail on BigInt with a message that does
// not say where; both are refused here with the field's name.
function strictJsonValue(key, value) {
  if (typeof value === 'bigint') {
    throw new TypeError(`field ${JSON.stringify(key)} is a BigInt, which JSON cannot carry; pass a Number`);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new TypeError(`field ${JSON.stringify(key)} is ${value}, which JSON cannot carry`);
  }
  return value;
}

/**
 * JSON text of `value` (a circular structure makes JSON.stringify itself throw a TypeError naming
 * the property). Encoded first without the checking replacer, which takes JSON.stringify off its
 * fast path: a BigInt makes that throw, and NaN or Infinity become `null`, so only a failure or a
 * text holding `null` is encoded again with the replacer, which names the offending field.
 */
function toJson(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    return JSON.stringify(value, strictJsonValue);
  }
  return text !== undefined && text.includes('null') ? JSON.stringify(value, strictJsonValue) : text;
}

/** JSON text of a plain object; `what` names it in the TypeError for anything else. */
function encodeObject(what, value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${what} must be an object, not ${describe(value)}`);
  }
  return toJson(value);
}

module.exports = { describe, checkProvider, checkSignal, checkOptions, toJson, encodeObject };
