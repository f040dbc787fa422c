"""The README's quickstart, run as written."""

from __future__ import annotations

import subprocess
import sys

from conftest import PROVIDER_ENV, ROOT


def test_quickstart_runs_against_the_mock_provider() -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k not in PROVIDER_ENV}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "model:  demo" in out
    assert "answer: This is a mock response from liter-llm." in out
    assert "error:  unsupported: unknown provider 'nope'" in out
