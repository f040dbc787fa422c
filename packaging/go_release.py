"""Writes the Go release module into a file-based module proxy (GOPROXY=file://DIR).

The module zip holds what a tagged release of bindings/go holds: the package's files from git
(tracked, or new and not ignored) plus the static library per platform under lib/<os>_<arch>/,
which git does not carry. A user's `go get MODULE@VERSION` then links it with no other download.
Layout: DIR/<module>/@v/{list, VERSION.info, VERSION.mod, VERSION.zip} (the GOPROXY protocol).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import zipfile
from pathlib import Path

# Fixed, so the same inputs give the same zip and the same checksum.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAX_ZIP_BYTES = 500 << 20  # the go command refuses larger module zips


def source_files(source: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "."],
        cwd=source,
        check=True,
        capture_output=True,
    ).stdout.decode()
    files = sorted(f for f in out.split("\0") if f and (source / f).is_file())
    nested = [f for f in files if f.endswith("/go.mod")]
    if nested:
        raise SystemExit(f"go_release: {source} contains nested modules {nested}; they would not be part of this one")
    if any(f.startswith("lib/") for f in files):
        raise SystemExit("go_release: lib/ must not be in git: the release adds the archives itself")
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--module", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--source", required=True, type=Path)
    parser.add_argument("--archive", action="append", default=[], help="GOOS_GOARCH=path/to/libliter_llm.a")
    parser.add_argument("--proxy", required=True, type=Path)
    args = parser.parse_args()

    files = source_files(args.source)
    if "go.mod" not in files or "include/liter_llm.h" not in files:
        raise SystemExit(f"go_release: {args.source} lacks go.mod or include/liter_llm.h")
    go_mod = (args.source / "go.mod").read_bytes()
    declared = go_mod.decode().splitlines()[0].removeprefix("module ").strip()
    if declared != args.module:
        raise SystemExit(f"go_release: go.mod declares {declared}, not {args.module}")

    version_dir = args.proxy / args.module / "@v"
    version_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{args.module}@{args.version}/"
    zip_path = version_dir / f"{args.version}.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(prefix + name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)

        for name in files:
            add(name, (args.source / name).read_bytes())
        for spec in args.archive:
            platform, _, path = spec.partition("=")
            add(f"lib/{platform}/libliter_llm.a", Path(path).read_bytes())
    if zip_path.stat().st_size > MAX_ZIP_BYTES:
        raise SystemExit(f"go_release: {zip_path} is larger than the 500 MiB the go command accepts")

    commit_time = subprocess.run(
        ["git", "log", "-1", "--format=%cI"], check=True, capture_output=True, text=True
    ).stdout.strip()
    (version_dir / f"{args.version}.info").write_text(json.dumps({"Version": args.version, "Time": commit_time}) + "\n")
    (version_dir / f"{args.version}.mod").write_bytes(go_mod)
    (version_dir / "list").write_text(args.version + "\n")
    print(
        f"go_release: {args.module}@{args.version} with {len(files)} files"
        f" and {len(args.archive)} archives in {zip_path}"
    )


if __name__ == "__main__":
    main()
