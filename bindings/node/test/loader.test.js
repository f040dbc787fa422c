'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const native = require('../lib/native');
const paths = require('../lib/paths');

/**
 * Runs `code` in a fresh process with `changes` applied to the environment (undefined removes a
 * variable); resolves with { code, stdout, stderr }.
 */
function runWith(changes, code = "console.log(require('../lib/native').libraryPath)") {
  const env = { ...process.env };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', code], { cwd: __dirname, env, timeout: 30000 }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout: stdout.trim(), stderr }),
    );
  });
}

// test/header.test.js checks that ABI_VERSION is the header's.
test('another ABI version is refused with an error that says to rebuild', () => {
  assert.doesNotThrow(() => native.checkAbiVersion(native.ABI_VERSION, 'x'));
  const other = native.ABI_VERSION + 1;
  assert.throws(() => native.checkAbiVersion(other, '/opt/libliter_llm.so'), (error) => {
    assert.match(error.message, new RegExp(`/opt/libliter_llm\\.so speaks ABI version ${other}`));
    assert.match(error.message, new RegExp(`needs version ${native.ABI_VERSION}`));
    assert.match(error.message, /rebuild/);
    return true;
  });
});

test('LITER_LLM_LIBRARY wins over the other places', async () => {
  const result = await runWith({ LITER_LLM_LIBRARY: paths.repositoryLibraryPath() });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, paths.repositoryLibraryPath());
});

test('without LITER_LLM_LIBRARY the bundled copy comes first, then the in-repo build', async () => {
  const result = await runWith({ LITER_LLM_LIBRARY: undefined });
  assert.equal(result.code, 0, result.stderr);
  const bundled = paths.bundledLibraryPath();
  assert.equal(result.stdout, fs.existsSync(bundled) ? bundled : paths.repositoryLibraryPath());
});

test('a missing library is a clear error at require time', async () => {
  const result = await runWith({ LITER_LLM_LIBRARY: '/nonexistent/libliter_llm.so' }, "require('liter-llm')");
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /liter-llm could not load its native library \/nonexistent\/libliter_llm\.so/);
});

test('a library that is not liter-llm is refused', async () => {
  const other = ['/lib/x86_64-linux-gnu/libm.so.6', '/usr/lib/libm.so.6', '/lib64/libm.so.6'].find((p) => fs.existsSync(p));
  assert.ok(other, 'a system libm to load');
  const result = await runWith({ LITER_LLM_LIBRARY: other }, "require('liter-llm')");
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /is not a liter-llm library/);
});

test('build:native explains what to build when the library is missing', async () => {
  const result = await runWith(
    { LITER_LLM_PREBUILT_LIB: '/nonexistent/libliter_llm.so' },
    "require('../scripts/copy-native.js')",
  );
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cargo build --release -p liter-llm-ffi/);
});

/** A package root whose native/ carries (empty stand-ins of) the libraries of `keys`. */
function fakePackage(keys) {
  const root = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'liter-llm-pkg-'));
  for (const key of keys) {
    fs.mkdirSync(path.join(root, 'native', key), { recursive: true });
    fs.writeFileSync(path.join(root, 'native', key, paths.libraryFileName(key.split('-')[0])), '');
  }
  return root;
}

test('each platform loads its own library from native/<platform>-<arch>', () => {
  const root = fakePackage(['linux-x64', 'linux-arm64']);
  try {
    for (const arch of ['x64', 'arm64']) {
      assert.equal(native.findLibrary({}, 'linux', arch, root), path.join(root, 'native', `linux-${arch}`, 'libliter_llm.so'));
    }
  } finally {
    fs.rmSync(root, { recursive: true });
  }
});

test('a platform the package does not carry is an error that names it and the ones it carries', () => {
  const root = fakePackage(['linux-x64', 'linux-arm64']);
  try {
    assert.throws(() => native.findLibrary({}, 'linux', 'riscv64', root), (error) => {
      assert.match(error.message, /no native library for linux-riscv64: this package carries linux-arm64, linux-x64/);
      assert.match(error.message, /LITER_LLM_LIBRARY/);
      return true;
    });
    assert.throws(() => native.findLibrary({}, 'darwin', 'arm64', fakePackage([])), /no native library for darwin-arm64: this package carries none/);
  } finally {
    fs.rmSync(root, { recursive: true });
  }
});

test('LITER_LLM_LIBRARY serves a platform the package does not carry', () => {
  assert.equal(native.findLibrary({ LITER_LLM_LIBRARY: '/opt/riscv/libliter_llm.so' }, 'linux', 'riscv64', fakePackage([])), '/opt/riscv/libliter_llm.so');
});
