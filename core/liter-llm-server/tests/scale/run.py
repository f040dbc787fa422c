"""Three gateway replicas behind HAProxy sharing one redis-server, on loopback, under a bounded
load (make test-scale):

1. a key limited to R requests per minute gets R admitted in total (plus what the bucket
   refills while the test runs), not 3R;
2. SIGTERM to one replica mid-load fails no request, and the replica exits 0;
3. kill -9 of one replica fails only requests it held (HAProxy's log names the server of each);
4. Prometheus scraping the replicas answers the ScaledObject's query with the in-flight total.

usage: run.py MOCK_UPSTREAM GATEWAY
"""

from __future__ import annotations

import http.client
import json
import math
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from typing import Any

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "sdk"))
from gateway_fixture import free_port, put_script, start  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[4]
LIMITED_KEY = "sk-gw-limited-0123456789"
LOAD_KEY = "sk-gw-load-0123456789abc"
RPM = 30
processes: list[subprocess.Popen[Any]] = []


def wait_until(what: str, check: Any, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(port: int, name: str) -> float:
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise SystemExit(f"no {name} on :{port}")


def completion(delay_ms: int) -> dict[str, Any]:
    return {
        "status": 200,
        "delay_ms": delay_ms,
        "json": {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        },
    }


class Replica:
    def __init__(self, gateway: str, config: pathlib.Path, index: int) -> None:
        self.port = free_port()
        self.name = f"r{index}"
        self.process = subprocess.Popen(
            [gateway, "serve", "--config", str(config), "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(self.process)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("listening on "), line


def post(port: int, key: str, request_id: str, timeout: float = 30.0) -> int | str:
    """One chat call through HAProxy: its status (HAProxy's 502 for a call whose replica broke
    the connection), or the connection error's name."""
    body = json.dumps({"model": "openai/m", "messages": [{"role": "user", "content": request_id}]})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=body,
            headers={"authorization": f"Bearer {key}", "content-type": "application/json", "x-request-id": request_id},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError as e:
        return type(e).__name__
    finally:
        conn.close()


class Load:
    """`workers` threads calling without pause until stopped; every outcome kept by request id."""

    def __init__(self, port: int, workers: int, tag: str) -> None:
        self.outcomes: dict[str, int | str] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(port, f"{tag}-{w}")) for w in range(workers)]
        for t in self.threads:
            t.start()

    def run(self, port: int, prefix: str) -> None:
        n = 0
        while not self.stop.is_set():
            request_id = f"{prefix}-{n}"
            n += 1
            outcome = post(port, LOAD_KEY, request_id)
            with self.lock:
                self.outcomes[request_id] = outcome

    def finish(self) -> dict[str, int | str]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        return self.outcomes


def haproxy_config(port: int, replicas: list[Replica], log: pathlib.Path) -> str:
    servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port} check inter 200 fall 1 rise 2" for r in replicas)
    return f"""global
    log stdout format raw local0
    maxconn 1000
defaults
    mode http
    log global
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch
    # Only what never reached a server is retried: a call a replica held is not sent twice.
    retry-on conn-failure
frontend gateway
    bind 127.0.0.1:{port}
    log-format "%[capture.req.hdr(0)] %s %ST"
    http-request capture req.hdr(x-request-id) len 64
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
{servers}
"""


def main() -> int:
    mock_bin, gateway_bin = sys.argv[1], sys.argv[2]
    work = pathlib.Path(tempfile.mkdtemp(prefix="liter-llm-scale-"))
    failures: list[str] = []
    try:
        mock, mock_url = start([mock_bin, "--exit-on-stdin-eof"])
        processes.append(mock)
        redis_port = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        processes.append(redis)
        wait_until("redis", lambda: socket.create_connection(("127.0.0.1", redis_port), 0.2).close() is None)

        put_script(mock_url, "scale", [completion(300)])
        config = work / "liter-llm.toml"
        config.write_text(f"""[providers.openai]
api_key = "sk-upstream-scale"
base_url = "{mock_url}/s/scale"
max_retries = 0

[server]
shutdown_grace = 2
drain_timeout = 20

[server.redis]
url = "redis://127.0.0.1:{redis_port}"
replicas = 3

[[server.keys]]
name = "limited"
key = "{LIMITED_KEY}"
rpm = {RPM}

[[server.keys]]
name = "load"
key = "{LOAD_KEY}"
""")
        replicas = [Replica(gateway_bin, config, i) for i in range(3)]
        hap_port = free_port()
        hap_config = work / "haproxy.cfg"
        hap_config.write_text(haproxy_config(hap_port, replicas, work / "haproxy.log"))
        hap_log = open(work / "haproxy.log", "w")
        haproxy = subprocess.Popen(["haproxy", "-f", str(hap_config), "-db"], stdout=hap_log, stderr=subprocess.STDOUT)
        processes.append(haproxy)
        wait_until("haproxy", lambda: get(f"http://127.0.0.1:{hap_port}/readyz")[0] == 200)
        time.sleep(0.6)  # every server up (rise 2 at 200 ms)

        # 1. The shared limit: 3R calls of the limited key, 6 at a time, through HAProxy.
        put_script(mock_url, "scale", [completion(0)])
        started = time.monotonic()
        statuses: list[int | str] = []
        lock = threading.Lock()

        def limited(i: int) -> None:
            outcome = post(hap_port, LIMITED_KEY, f"limited-{i}")
            with lock:
                statuses.append(outcome)

        pending = [threading.Thread(target=limited, args=(i,)) for i in range(3 * RPM)]
        for chunk in range(0, len(pending), 6):
            batch = pending[chunk : chunk + 6]
            for t in batch:
                t.start()
            for t in batch:
                t.join()
        elapsed = time.monotonic() - started
        admitted = statuses.count(200)
        refill = math.ceil(elapsed * RPM / 60)
        print(
            f"shared limit: rpm {RPM}, {len(statuses)} calls over 3 replicas in {elapsed:.2f} s: "
            f"{admitted} admitted, {statuses.count(429)} refused (bound {RPM}..{RPM + refill})"
        )
        if not (RPM <= admitted <= RPM + refill) or admitted + statuses.count(429) != len(statuses):
            failures.append(f"shared limit: {admitted} admitted of {statuses}")

        # 2. SIGTERM mid-load.
        put_script(mock_url, "scale", [completion(300)])
        load = Load(hap_port, 12, "term")
        time.sleep(1.5)
        victim = replicas[0]
        in_flight = metric(victim.port, "liter_llm_in_flight_requests")
        victim.process.send_signal(signal.SIGTERM)
        code = victim.process.wait(timeout=40)
        time.sleep(0.5)
        outcomes = load.finish()
        failed = {k: v for k, v in outcomes.items() if v != 200}
        print(
            f"SIGTERM: {len(outcomes)} calls, {len(failed)} failed; the replica held {in_flight:.0f} "
            f"when signalled and exited {code}"
        )
        if failed or code != 0:
            failures.append(f"SIGTERM: exit {code}, failed {failed}")

        # A replica back in its place, for the next phase.
        replicas[0] = Replica(gateway_bin, config, 0)
        replicas[0].name = "r0"
        hap_config.write_text(haproxy_config(hap_port, replicas, work / "haproxy.log"))
        haproxy.send_signal(signal.SIGTERM)
        haproxy.wait(timeout=10)
        hap_log.close()
        (work / "haproxy.log").unlink()
        hap_log = open(work / "haproxy.log", "w")
        haproxy = subprocess.Popen(["haproxy", "-f", str(hap_config), "-db"], stdout=hap_log, stderr=subprocess.STDOUT)
        processes.append(haproxy)
        wait_until("haproxy", lambda: get(f"http://127.0.0.1:{hap_port}/readyz")[0] == 200)
        time.sleep(0.6)

        # 4. Prometheus answers the ScaledObject's query with the in-flight total (steady load:
        # 9 workers on 2 s calls).
        scaled = yaml.safe_load((ROOT / "deploy/kubernetes/base/scaledobject.yaml").read_text())
        query = scaled["spec"]["triggers"][0]["metadata"]["query"]
        prom_port = free_port()
        targets = ", ".join(f'"127.0.0.1:{r.port}"' for r in replicas)
        (work / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: liter-llm\n"
            f"    static_configs:\n      - targets: [{targets}]\n"
        )
        prometheus = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(prometheus)
        put_script(mock_url, "scale", [completion(2000)])
        load = Load(hap_port, 9, "prom")

        def answer() -> list[Any]:
            url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
            status, text = get(url)
            return json.loads(text)["data"]["result"] if status == 200 else []

        answers: list[list[Any]] = []

        def total() -> bool:
            answers.append(answer())
            return len(answers[-1]) == 1 and float(answers[-1][0]["value"][1]) == 9

        wait_until("prometheus to answer the in-flight total", total, 30)
        direct = sum(metric(r.port, "liter_llm_in_flight_requests") for r in replicas)
        print(
            f"prometheus: {query} = {answers[-1][0]['value'][1]} (one sample); 9 calls in flight, "
            f"the replicas report {direct:.0f}"
        )

        # 3. kill -9 mid-load: only the requests the victim held fail.
        load.finish()
        put_script(mock_url, "scale", [completion(500)])
        load = Load(hap_port, 12, "kill")
        time.sleep(1.5)
        victim = replicas[1]
        held = metric(victim.port, "liter_llm_in_flight_requests")
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
        time.sleep(1.5)
        outcomes = load.finish()
        haproxy.send_signal(signal.SIGUSR1)  # soft stop: flushes its log
        haproxy.wait(timeout=20)
        hap_log.close()
        served_by: dict[str, str] = {}
        for line in (work / "haproxy.log").read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                served_by[parts[0]] = parts[1]
        failed = {k: v for k, v in outcomes.items() if v != 200}
        elsewhere = {k: v for k, v in failed.items() if served_by.get(k) != victim.name}
        print(
            f"kill -9: {len(outcomes)} calls, {len(failed)} failed ({sorted(set(map(str, failed.values())))}), "
            f"all held by the killed replica: {not elsewhere}; it held {held:.0f} shortly before"
        )
        if elsewhere or not failed or len(failed) > 12:
            failures.append(f"kill -9: failed {failed}, not on {victim.name}: {elsewhere}")
    finally:
        for p in reversed(processes):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print("scale: ok" if not failures else f"scale: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.pop("LITER_LLM_CONFIG", None)
    sys.exit(main())
