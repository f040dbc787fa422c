'use strict';

// Canonical JSON (RFC 8785, JCS) for the results file, so every runner writes the same bytes.
// ECMAScript already prints numbers and escapes strings the way JCS asks; what is left is
// sorting members by UTF-16 code units (JavaScript's default string order) and refusing
// values JSON cannot carry.

function canonicalJson(value) {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${value} cannot be written as JSON`);
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const keys = Object.keys(value).sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`${typeof value} is not a JSON value`);
  }
}

module.exports = { canonicalJson };
