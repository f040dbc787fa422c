"""The static release binary runs with an empty environment in an empty root directory (what
the Dockerfile's `FROM scratch` image holds): chroot as root, serve a chat completion from the
mock upstream (named through the chroot's /etc/hosts, as Kubernetes mounts one), and stop with
SIGTERM and exit 0 (make test-static).

usage: run.py STATIC_GATEWAY MOCK_UPSTREAM
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "sdk"))
from gateway_fixture import free_port, put_script, start  # noqa: E402

PT_INTERP = 3


def interpreter(path: pathlib.Path) -> bool:
    """Whether the ELF file asks for a program interpreter (the dynamic loader)."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "a 64-bit ELF file"
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == PT_INTERP for i in range(phnum))


def main() -> int:
    if os.geteuid() != 0:
        raise SystemExit("chroot needs root (CI runs as root)")
    binary, mock_bin = pathlib.Path(sys.argv[1]), sys.argv[2]
    if interpreter(binary):
        raise SystemExit(f"{binary} is dynamically linked")
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"  # found here: the child gets no PATH
    root = pathlib.Path(tempfile.mkdtemp(prefix="liter-llm-root-"))
    processes: list[subprocess.Popen[str]] = []
    try:
        mock, mock_url = start([mock_bin, "--exit-on-stdin-eof"])
        processes.append(mock)
        mock_port = mock_url.rsplit(":", 1)[1]
        answer = {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "from the chroot"}, "finish_reason": "stop"}
            ],
        }
        put_script(mock_url, "static", [{"status": 200, "json": answer}])
        shutil.copy(binary, root / "liter-llm")
        (root / "etc").mkdir()
        (root / "etc" / "hosts").write_text("127.0.0.1 upstream.internal\n")
        (root / "liter-llm.toml").write_text(
            f'[providers.openai]\napi_key = "sk-upstream-static"\nbase_url = "http://upstream.internal:{mock_port}/s/static"\n'
            "\n[server]\nshutdown_grace = 0\n"
        )
        print(f"root directory: {sorted(str(p.relative_to(root)) for p in root.rglob('*'))}")
        version = subprocess.run([chroot, str(root), "/liter-llm", "--version"], env={}, capture_output=True, text=True)
        assert version.returncode == 0 and version.stdout.startswith("liter-llm "), version
        port = free_port()
        gateway = subprocess.Popen(
            [
                chroot,
                str(root),
                "/liter-llm",
                "serve",
                "--config",
                "/liter-llm.toml",
                "--listen",
                f"127.0.0.1:{port}",
            ],
            env={},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(gateway)
        assert gateway.stdout is not None
        line = gateway.stdout.readline()
        assert line.startswith("listening on "), (line, gateway.stderr.read() if gateway.stderr else "")
        body = json.dumps({"model": "openai/m", "messages": [{"role": "user", "content": "hi"}]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            content = json.load(response)["choices"][0]["message"]["content"]
        assert content == "from the chroot", content
        gateway.send_signal(signal.SIGTERM)
        code = gateway.wait(timeout=20)
        assert code == 0, code
        print(
            f"static binary ({binary.stat().st_size // 1024} KiB, no interpreter): served in an empty root with an "
            "empty environment, exit 0 on SIGTERM"
        )
    finally:
        for p in reversed(processes):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
