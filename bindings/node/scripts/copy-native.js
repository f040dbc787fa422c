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

const { bundledLibraryPath, repositoryLibraryPath } = require('../lib/paths');

function main() {
  const source =
    process.env.LITER_LLM_PREBUILT_LIB ||
    (process.env.CARGO_TARGET_DIR ? repositoryLibraryPath(path.resolve(process.env.CARGO_TARGET_DIR)) : repositoryLibraryPath());
  if (!fs.existsSync(source)) {
    console.error(
      `liter-llm: ${source} does not exist; build it first with ` +
        '`cd core && cargo build --release -p liter-llm-ffi`, or set LITER_LLM_PREBUILT_LIB to a built library',
    );
    process.exit(1);
  }
  const destination = bundledLibraryPath();
  fs.mkdirSync(path.dirname(destination), { recursive: true });
  // Copy to a temporary name and rename, so a process loading the library never sees half a file.
  const partial = `${destination}.${process.pid}.tmp`;
  fs.copyFileSync(source, partial);
  fs.renameSync(partial, destination);
  console.log(`liter-llm: copied ${source} to ${destination}`);
}

main();
