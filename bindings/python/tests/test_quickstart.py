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


def test_readme_python_snippets_run() -> None:
    """Every ```python block of the README runs as written, in order, as one session."""
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
