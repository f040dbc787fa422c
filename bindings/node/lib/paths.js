'use strict';

// Where the shared library lives: shared by the loader (lib/native.js) and `npm run build:native`
// (scripts/copy-native.js), which must agree.

const fs = require('node:fs');
const path = require('node:path');

const PACKAGE_ROOT = path.resolve(__dirname, '..');
const REPOSITORY_ROOT = path.resolve(PACKAGE_ROOT, '..', '..');

function libraryFileName(platform = process.platform) {
  if (platform === 'darwin') return 'libliter_llm.dylib';
  if (platform === 'win32') return 'liter_llm.dll';
  return 'libliter_llm.so';
}

/** The name of a platform's folder under native/: `${process.platform}-${process.arch}`, e.g. linux-x64. */
function platformKey(platform = process.platform, arch = process.arch) {
  return `${platform}-${arch}`;
}

/** Where the package carries the library for a platform (put there by `npm run build:native` or `make dist`). */
function bundledLibraryPath(platform = process.platform, arch = process.arch, packageRoot = PACKAGE_ROOT) {
  return path.join(packageRoot, 'native', platformKey(platform, arch), libraryFileName(platform));
}

/** The platforms whose library this package carries, sorted: the folders of native/ that hold one. */
function bundledPlatforms(packageRoot = PACKAGE_ROOT) {
  let entries;
  try {
    entries = fs.readdirSync(path.join(packageRoot, 'native'), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .filter((key) => {
      const platform = key.split('-')[0];
      return fs.existsSync(path.join(packageRoot, 'native', key, libraryFileName(platform)));
    })
    .sort();
}

/** The library cargo builds in this repository (`CARGO_TARGET_DIR` aside), for in-repo development. */
function repositoryLibraryPath(targetDir = path.join(REPOSITORY_ROOT, 'core', 'target')) {
  return path.join(targetDir, 'release', libraryFileName());
}

module.exports = {
  PACKAGE_ROOT,
  REPOSITORY_ROOT,
  libraryFileName,
  platformKey,
  bundledLibraryPath,
  bundledPlatforms,
  repositoryLibraryPath,
};
