#!/usr/bin/env node
'use strict';

// Copies the built liter-llm shared library into native/<platform>-<arch>/, where the package
// loads it from when LITER_LLM_LIBRARY is not set. Run after building the core:
//
//   cd core && cargo build --release -p liter-llm-ffi
//   cd bindings/node && npm run build:native
//
// LITER_LLM_PREBUILT_LIB names another built library; CARGO_TARGET_DIR is honoured.

const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_ROOT = path.resolve(__dirname, '..');
const REPO_ROOT = path.resolve(PACKAGE_ROOT, '..', '..');

function libraryFileName(platform) {
  if (platform === 'darwin') return 'libliter_llm.dylib';
  if (platform === 'win32') return 'liter_llm.dll';
  return 'libliter_llm.so';
}

function main() {
  const name = libraryFileName(process.platform);
  const targetDir = process.env.CARGO_TARGET_DIR
    ? path.resolve(process.env.CARGO_TARGET_DIR)
    : path.join(REPO_ROOT, 'core', 'target');
  const source = process.env.LITER_LLM_PREBUILT_LIB || path.join(targetDir, 'release', name);
  if (!fs.existsSync(source)) {
    console.error(
      `liter-llm: ${source} does not exist; build it first with ` +
        '`cd core && cargo build --release -p liter-llm-ffi`, or set LITER_LLM_PREBUILT_LIB to a built library',
    );
    process.exit(1);
  }
  const destination = path.join(PACKAGE_ROOT, 'native', `${process.platform}-${process.arch}`, name);
  fs.mkdirSync(path.dirname(destination), { recursive: true });
  // Copy to a temporary name and rename, so a process loading the library never sees half a file.
  const partial = `${destination}.${process.pid}.tmp`;
  fs.copyFileSync(source, partial);
  fs.renameSync(partial, destination);
  console.log(`liter-llm: copied ${source} to ${destination}`);
}

main();
