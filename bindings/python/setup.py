"""Builds the liter_llm wheel: the Rust core's shared library plus the cffi declarations.

In the repository the Rust core and the header are found at ../../core and ../../include; an sdist
carries copies of both under rust/ (see packaging/ and `make dist`), so `pip install` of the sdist
builds the library with cargo where no wheel fits.

Environment:
  LITER_LLM_PREBUILT_LIB  path to an already built libliter_llm; cargo is not run.
  CARGO_TARGET_DIR        honoured when looking for cargo's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build_ffi import make_ffi  # noqa: E402

# The repository when building from a checkout, else the copy an sdist carries.
ROOT = HERE.parent.parent if (HERE.parent.parent / "core" / "Cargo.toml").exists() else HERE / "rust"
HEADER = ROOT / "include" / "liter_llm.h"


def library_file_name() -> str:
    if sys.platform == "darwin":
        return "libliter_llm.dylib"
    if sys.platform == "win32":
        return "liter_llm.dll"
    return "libliter_llm.so"


def native_library() -> Path:
    prebuilt = os.environ.get("LITER_LLM_PREBUILT_LIB")
    if prebuilt:
        return Path(prebuilt)
    manifest = ROOT / "core" / "Cargo.toml"
    if not manifest.exists():
        raise RuntimeError(
            f"the Rust core is not at {manifest}; build from the liter-llm repository or its sdist, "
            "or set LITER_LLM_PREBUILT_LIB to a built libliter_llm"
        )
    if shutil.which("cargo") is None:
        raise RuntimeError(
            "building liter-llm from source needs a Rust toolchain (cargo, Rust 1.85 or newer) and no wheel "
            "fits this platform; install Rust (https://rustup.rs) or set LITER_LLM_PREBUILT_LIB"
        )
    subprocess.check_call(
        ["cargo", "build", "--release", "--locked", "-p", "liter-llm-ffi", "--manifest-path", str(manifest)]
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "core" / "target"))
    return target / "release" / library_file_name()


class BuildPyWithNative(build_py):
    def run(self) -> None:
        super().run()
        package_dir = Path(self.build_lib) / "liter_llm"
        package_dir.mkdir(parents=True, exist_ok=True)
        make_ffi(HEADER).emit_python_code(str(package_dir / "_ffi.py"))
        shutil.copy2(native_library(), package_dir / library_file_name())


class BinaryDistribution(Distribution):
    """The wheel carries a native library, so it is platform-specific (but not Python-ABI-specific)."""

    def has_ext_modules(self) -> bool:
        return True


cmdclass: dict[str, type] = {"build_py": BuildPyWithNative}
try:
    try:
        from setuptools.command.bdist_wheel import bdist_wheel
    except ImportError:
        from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

    class PlatformWheel(bdist_wheel):  # type: ignore[misc,valid-type]
        def get_tag(self) -> tuple[str, str, str]:
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = PlatformWheel
except ImportError:
    pass

setup(cmdclass=cmdclass, distclass=BinaryDistribution)
