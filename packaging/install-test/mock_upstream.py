"""Starts the mock upstream and scripts one session per language for the install test.

python3 mock_upstream.py BINARY SESSION...   prints `URL` on its first line, then serves until
                                             stdin closes; each SESSION answers one scripted
                                             chat.completion saying "hello from SESSION"
python3 mock_upstream.py --journal URL SESSION  prints how many requests reached the session and
                                             exits 1 unless exactly one POST .../chat/completions did
"""

import json
import subprocess
import sys
import urllib.request


def completion(session: str) -> dict:
    return {
        "id": f"chatcmpl-{session}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": f"hello from {session}"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def put(url: str, session: str) -> None:
    body = json.dumps({"responses": [{"json": completion(session)}]}).encode()
    req = urllib.request.Request(
        f"{url}/__mock/sessions/{session}", data=body, method="PUT", headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204, resp.status


def journal(url: str, session: str) -> int:
    with urllib.request.urlopen(f"{url}/__mock/sessions/{session}/requests", timeout=10) as resp:
        requests = json.load(resp)["requests"]
    seen = [(r["method"], r["path"]) for r in requests]
    print(f"{session}: {seen}")
    ok = len(seen) == 1 and seen[0][0] == "POST" and seen[0][1].endswith("/chat/completions")
    ok = ok and requests[0]["headers"].get("authorization") == "Bearer sk-test-install"
    return 0 if ok else 1


def serve(binary: str, sessions: list[str]) -> None:
    proc = subprocess.Popen([binary, "--exit-on-stdin-eof"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    prefix = "listening on "
    if not line.startswith(prefix):
        sys.exit(f"the mock upstream said {line!r}, not {prefix}URL")
    url = line[len(prefix) :]
    for session in sessions:
        put(url, session)
    print(url, flush=True)
    sys.stdin.read()  # until the harness closes our stdin
    proc.stdin.close()
    proc.wait(timeout=10)


if __name__ == "__main__":
    if sys.argv[1] == "--journal":
        sys.exit(journal(sys.argv[2], sys.argv[3]))
    serve(sys.argv[1], sys.argv[2:])
