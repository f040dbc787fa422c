'use strict';

// Where the shared library lives: shared by the loader (lib/native.js) and `npm run build:native`
// (scripts/copy-native.js), which must agree.

const path = require('node:path');

const PACKAGE_ROOT = path.resolve(__dirname, '..');
const REPOSITORY_ROOT = path.resolve(PACKAGE_ROOT, '..', '..');

function libraryFileName(platform = process.platform) {
  if (platform === 'darwin') return 'libliter_llm.dylib';
  if (platform === 'win32') return 'liter_llm.dll';
  return 'libliter_llm.so';
}

/** Where `npm run build:native` puts the library for this platform. */
function bundledLibraryPath(platform = process.platform, arch = process.arch) {
  return path.join(PACKAGE_ROOT, 'native', `${platform}-${arch}`, libraryFileName(platform));
}

/** The library cargo builds in this repository (`CARGO_TARGET_DIR` aside), for in-repo development. */
function repositoryLibraryPath(targetDir = path.join(REPOSITORY_ROOT, 'core', 'target')) {
  return path.join(targetDir, 'release', libraryFileName());
}

module.exports = { PACKAGE_ROOT, REPOSITORY_ROOT, libraryFileName, bundledLibraryPath, repositoryLibraryPath };
