#!/usr/bin/env python3
"""The conformance harness: runs the cases through one language's driver.

    python conformance/harness/run.py --driver "COMMAND" [--cases DIR] [--results FILE] [-k SUBSTRING]

What it does is written in conformance/RUNNER_CONTRACT.md, step by step; the driver (one per
binding, conformance/runners/<language>/) only calls its binding and reports what only its
language can see. Needs conformance/requirements.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema

from canonical import canonical_json
from driver_process import Driver, DriverError
from matcher import CaseError, error_mismatches, mismatches
from mock_upstream import MockUpstream, MockUpstreamError
from upstream_specs import UpstreamSpecs

CONFORMANCE_DIR = Path(__file__).resolve().parents[1]
CASE_SCHEMA = CONFORMANCE_DIR / "schema" / "case.schema.json"

PROVIDER_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "CO_API_KEY",
    "COHERE_API_KEY",
    "CO_API_URL",
    "COHERE_BASE_URL",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
)
# Variables that hold a credential: test values look like `sk-test-...` (the case schema), and
# none may appear in an error.
SECRET_VARIABLES = ("AWS_BEARER_TOKEN_BEDROCK", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# Variables that are neither a credential nor a URL.
PLAIN_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_REGION", "AWS_DEFAULT_REGION")


def is_secret_variable(name: str) -> bool:
    return name.endswith("_API_KEY") or name in SECRET_VARIABLES


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
BASE_URL_TEMPLATE = "{{base_url}}"

# docs/errors.md: the fields of every error object, and its kinds.
ERROR_FIELDS = ("kind", "message", "status", "provider", "retry_after", "provider_error", "attempts")
# The kinds are one list: LITER_LLM_ERROR_KIND_* in the C header.
ERROR_KINDS = tuple(
    kind.lower()
    for kind in re.findall(
        r"^\s*LITER_LLM_ERROR_KIND_([A-Z_]+)",
        (CONFORMANCE_DIR.parent / "include" / "liter_llm.h").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
)
MAX_SCHEMA_ERRORS_SHOWN = 5


@dataclass
class Outcome:
    name: str
    reasons: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.reasons


def case_name(cases_dir: Path, path: Path) -> str:
    relative = path.relative_to(cases_dir)
    return "/".join([*relative.parent.parts, relative.stem])


def substitute(value: Any, base_url: str) -> Any:
    if isinstance(value, str):
        return value.replace(BASE_URL_TEMPLATE, base_url)
    if isinstance(value, list):
        return [substitute(item, base_url) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, base_url) for key, item in value.items()}
    return value


def normalise(value: Any, replacements: dict[str, str]) -> Any:
    """Replaces run-specific strings (session id, mock address) with fixed placeholders."""
    if isinstance(value, str):
        for actual, placeholder in replacements.items():
            value = value.replace(actual, placeholder)
        return value
    if isinstance(value, list):
        return [normalise(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: normalise(item, replacements) for key, item in value.items()}
    return value


# An id the core makes for an answer whose provider gives none (`chatcmpl-<provider>-<time>`):
# normalised as `created` is.
GENERATED_ID = re.compile(r"^(chatcmpl-[a-z_]+-)[0-9]{9,}$")


def normalised_result(result: dict[str, Any], replacements: dict[str, str]) -> dict[str, Any]:
    result = normalise(result, replacements)
    stream = result.get("stream") or {}
    for completion in [result.get("response"), stream.get("assembled"), *stream.get("chunks", [])]:
        if isinstance(completion, dict) and "created" in completion:
            completion["created"] = 0
        if isinstance(completion, dict) and isinstance(completion.get("id"), str):
            completion["id"] = GENERATED_ID.sub(r"\1{{generated}}", completion["id"])
    return result


def result_error(result: dict[str, Any]) -> Any:
    """The error object a call ended with, a stream's included; None when there is none."""
    if "error" in result:
        return result["error"]
    return (result.get("stream") or {}).get("error")


class Call(NamedTuple):
    """One call of a case: its result (`{"response": ...}`, `{"error": ...}` or `{"stream": ...}`)
    and what the driver found checking its language's native types; or no result and the reason,
    when the binding misbehaved (a crash, an exception that is not its error type)."""

    result: dict[str, Any] | None
    native: tuple[str, ...] = ()
    problem: str | None = None


def call_from_reply(reply: dict[str, Any]) -> Call:
    """A driver's reply to `invoke` or `stream` (RUNNER_CONTRACT.md, "Drivers") as a Call."""
    if "problem" in reply:
        return Call(None, problem=str(reply["problem"]))
    if "assembler_error" in reply:
        return Call(None, problem=f"the assembler refused the chunks: {canonical_json(reply['assembler_error'])}")
    for key in ("response", "error", "stream"):
        if key in reply:
            native = reply.get("native") or []
            return Call({key: reply[key]}, tuple(str(finding) for finding in native))
    return Call(None, problem=f"the driver's reply has no result: {canonical_json(reply)}")


def driver_calls(
    driver: Any, case: dict[str, Any], request: dict[str, Any], in_flight: Callable[[], None]
) -> list[Call]:
    """Every call of a case through the driver (RUNNER_CONTRACT.md, sections 3.4 and 3.5): the
    case's configuration, then `calls` calls, then `{}` again."""
    config = case.get("config")
    if config is not None:
        refused = driver.request({"op": "configure", "config": config})
        if "error" in refused:
            return [Call(None, problem=f"configure refused the case's config: {canonical_json(refused['error'])}")]
        if "problem" in refused:
            return [Call(None, problem=f"configure failed: {refused['problem']}")]
    try:
        return [driver_call(driver, case, request, in_flight) for _ in range(case.get("calls", 1))]
    finally:
        if config is not None:
            reset = driver.request({"op": "configure", "config": {}})
            if "error" in reset or "problem" in reset:
                raise DriverError(f"configure({{}}) failed: {canonical_json(reset)}")


def driver_call(driver: Any, case: dict[str, Any], request: dict[str, Any], in_flight: Callable[[], None]) -> Call:
    message = {"provider": case["provider"], "request": request}
    if "stream" not in case:
        return call_from_reply(driver.request({"op": "invoke", **message}))
    cancel_after = case["stream"].get("cancel_after_chunks")
    reply = driver.request({"op": "stream", **message, "cancel_after_chunks": cancel_after}, on_started=in_flight)
    return call_from_reply(reply)


def set_case_environment(driver: Any, env: dict[str, str]) -> None:
    """The case's environment, in the driver's process (where the core reads it)."""
    for name in PROVIDER_VARIABLES:
        if name not in env:
            driver.request({"op": "env", "name": name, "value": None})
    for name, value in env.items():
        driver.request({"op": "env", "name": name, "value": value})


def error_shape_problems(error: Any) -> list[str]:
    """docs/errors.md: every error object has these fields with these types."""
    if not isinstance(error, dict):
        return [f"the error is not an object: {error!r}"]
    problems = [f"$error.{name}: missing (docs/errors.md lists it)" for name in ERROR_FIELDS if name not in error]
    checks: dict[str, Callable[[Any], bool]] = {
        "kind": lambda value: value in ERROR_KINDS,
        "message": lambda value: isinstance(value, str) and value != "",
        "status": lambda value: value is None or (isinstance(value, int) and not isinstance(value, bool)),
        "provider": lambda value: value is None or isinstance(value, str),
        "retry_after": lambda value: value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)),
        "provider_error": lambda value: value is None or isinstance(value, dict),
        "attempts": lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= 0,
    }
    for name, check in checks.items():
        if name in error and not check(error[name]):
            problems.append(f"$error.{name}: {error[name]!r} is not what docs/errors.md allows")
    return problems


def stream_outcome_problems(expect: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """Compares a stream's chunks and end with `expect.chunks` and `assembled` / `error` / `cancelled`."""
    stream = result.get("stream")
    if stream is None:
        return [f"expected a stream, got {canonical_json(result)}"]
    problems = mismatches(expect["chunks"], stream["chunks"], "$chunks")
    ended = (
        f"error {canonical_json(stream['error'])}"
        if "error" in stream
        else "cancelled"
        if stream.get("cancelled")
        else "a normal end"
    )
    if "assembled" in expect:
        if "assembled" not in stream:
            return problems + [f"expected the stream to end normally, it ended with {ended}"]
        return problems + mismatches(expect["assembled"], stream["assembled"], "$assembled")
    if "error" in expect:
        if "error" not in stream:
            return problems + [
                f"expected the stream to end with a {expect['error']['kind']} error, it ended with {ended}"
            ]
        return problems + error_mismatches(expect["error"], stream["error"])
    if not stream.get("cancelled"):
        problems.append(f"expected the runner to abandon the stream, it ended with {ended}")
    return problems


def outcome_problems(expect: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """Compares a response or error with `expect.response` / `expect.error`."""
    if "chunks" in expect:
        return stream_outcome_problems(expect, result)
    if "stream" in result:
        return [f"expected a call, got a stream {canonical_json(result)}"]
    if "response" in expect:
        if "error" in result:
            return [f"expected a response, got error {canonical_json(result['error'])}"]
        response = result["response"]
        problems = mismatches(expect["response"], response, "$response")
        if not isinstance(response, dict):
            problems.append("the response is not an object")
        elif response.get("object") == "list":
            # An embedding response (docs/embeddings.md): a data array of embedding objects.
            data = response.get("data")
            if not (
                isinstance(data, list) and all(isinstance(d, dict) and d.get("object") == "embedding" for d in data)
            ):
                problems.append("the embedding response has no data array of embedding objects")
        elif not isinstance(response.get("choices"), list):
            problems.append("the response is not an object with a choices array")
        return problems
    if "response" in result:
        return [f"expected a {expect['error']['kind']} error, got response {canonical_json(result['response'])}"]
    return error_mismatches(expect["error"], result["error"])


def earlier_call_problems(earlier: list[dict[str, Any]], results: list[Any]) -> list[str]:
    """Compares calls 1 .. n-1 of a case with `expect.earlier_calls` (the last call is `expect`'s)."""
    if len(earlier) != len(results) - 1:
        return [f"expect.earlier_calls has {len(earlier)} items for {len(results)} calls; it needs {len(results) - 1}"]
    problems = []
    for index, (expected, result) in enumerate(zip(earlier, results[:-1], strict=True)):
        if result is not None:
            problems.extend(f"call {index + 1}: {problem}" for problem in outcome_problems(expected, result))
    return problems


def leaked_key_problems(env: dict[str, str], request: dict[str, Any], error: Any) -> list[str]:
    """No API key given to the case may appear anywhere in the error object."""
    keys = [value for name, value in env.items() if is_secret_variable(name)]
    if isinstance(request.get("api_key"), str):
        keys.append(request["api_key"])
    serialized = canonical_json(error)
    return [f"the error contains the API key {key!r}" for key in keys if key and key in serialized]


def request_problems(expect: dict[str, Any], recorded: list[dict[str, Any]]) -> list[str]:
    expected_requests = expect.get("requests", [])
    problems = []
    count = expect.get("request_count", len(expected_requests))
    if len(recorded) != count:
        seen = ", ".join(f"{request['method']} {request['path']}" for request in recorded) or "none"
        problems.append(f"expected {count} upstream request(s), got {len(recorded)} ({seen})")
    for index, expected in enumerate(expected_requests):
        if index >= len(recorded):
            problems.append(f"$requests[{index}]: expected a request, none was received")
            continue
        actual = recorded[index]
        for name in ("method", "path", "query", "headers"):
            if name in expected:
                problems.extend(mismatches(expected[name], actual[name], f"$requests[{index}].{name}"))
        if "body" in expected:
            problems.extend(mismatches(expected["body"], actual["json"], f"$requests[{index}].body"))
        if "outcome" in expected and expected["outcome"] != actual["outcome"]:
            problems.append(f"$requests[{index}].outcome: expected {expected['outcome']!r}, got {actual['outcome']!r}")
        if "open_ms" in expected:
            bound = expected["open_ms"]
            if actual["ended_at_ms"] is None:
                problems.append(f"$requests[{index}].open_ms: the answer had not ended")
            else:
                open_ms = actual["ended_at_ms"] - actual["received_at_ms"]
                if not bound["min"] <= open_ms <= bound["max"]:
                    problems.append(
                        f"$requests[{index}].open_ms: {open_ms:.1f} ms is outside [{bound['min']}, {bound['max']}]"
                    )
    if "gaps_ms" in expect:
        times = [request["received_at_ms"] for request in recorded]
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        bounds = expect["gaps_ms"]
        if len(bounds) != len(gaps):
            problems.append(f"$gaps_ms: {len(bounds)} bounds for {len(gaps)} gaps between {len(recorded)} requests")
        for index, (gap, bound) in enumerate(zip(gaps, bounds, strict=False)):
            if not bound["min"] <= gap <= bound["max"]:
                problems.append(f"$gaps_ms[{index}]: {gap:.1f} ms is outside [{bound['min']}, {bound['max']}]")
    return problems


def schema_problems(specs: UpstreamSpecs, recorded: list[dict[str, Any]]) -> list[str]:
    problems = []
    for index, request in enumerate(recorded):
        where = f"$requests[{index}] ({request['method']} {request['path']})"
        operation = specs.operation_for(request["method"], request["path"])
        if operation is None:
            problems.append(f"{where}: no official schema covers this request")
            continue
        if request["json"] is None:
            problems.append(f"{where}: the body is not JSON: {request['body'][:200]!r}")
            continue
        errors = specs.request_errors(operation, request["json"])
        for error in errors[:MAX_SCHEMA_ERRORS_SHOWN]:
            problems.append(f"{where} breaks the official {operation.provider} schema at {error}")
        if len(errors) > MAX_SCHEMA_ERRORS_SHOWN:
            problems.append(f"{where}: and {len(errors) - MAX_SCHEMA_ERRORS_SHOWN} more schema errors")
    return problems


def run_case(case: dict[str, Any], driver: Any, upstream: MockUpstream, specs: UpstreamSpecs) -> Outcome:
    outcome = Outcome(case["name"])
    session = uuid.uuid4().hex
    base_url = upstream.session_url(session)
    env = substitute(case.get("env", {}), base_url)
    request = substitute(case["request"], base_url)
    expect = case["expect"]

    upstream.put_session(session, case.get("upstream", {"responses": []}))
    try:
        set_case_environment(driver, env)
        calls = driver_calls(driver, case, request, lambda: upstream.wait_for_request(session))
    finally:
        recorded = upstream.settled_requests(session)
        upstream.delete_session(session)
    outcome.reasons.extend(call.problem for call in calls if call.problem is not None)
    results = [call.result for call in calls]
    last = calls[-1]

    replacements = {session: "{{session}}", upstream.authority: "{{mock_host}}"}
    normalised = [None if result is None else normalised_result(result, replacements) for result in results]
    earlier = expect.get("earlier_calls")
    if earlier is not None:
        outcome.reasons.extend(earlier_call_problems(earlier, results))
    elif any(canonical_json(other) != canonical_json(normalised[0]) for other in normalised[1:]):
        outcome.reasons.append(
            f"{len(results)} calls with the same request gave different results: "
            + " vs ".join(canonical_json(result) for result in normalised)
        )
    result = last.result
    if result is not None:
        outcome.reasons.extend(outcome_problems(expect, result))
    error = None if result is None else result_error(result)
    if error is not None:
        outcome.reasons.extend(error_shape_problems(error))
    outcome.reasons.extend(last.native)
    if error is not None:
        outcome.reasons.extend(leaked_key_problems(env, request, error))

    outcome.reasons.extend(request_problems(expect, recorded))
    if case.get("validate_schema", True):
        outcome.reasons.extend(schema_problems(specs, recorded))

    outcome.result = normalised[-1]
    return outcome


def unsafe_base_urls(case: dict[str, Any]) -> list[str]:
    """Cases may only point at the mock upstream or a closed loopback port, and every provider
    whose key they set must get a loopback base URL, so that no case, even against a broken core,
    can send a request to a real provider."""
    env = case.get("env", {})
    request = case["request"]
    problems = []
    named = {name: value for name, value in env.items() if not is_secret_variable(name) and name not in PLAIN_VARIABLES}
    named.update({f"request.{name}": request[name] for name in ("base_url", "api_base") if name in request})
    for name, value in named.items():
        if not isinstance(value, str) or not value.startswith((BASE_URL_TEMPLATE, "http://127.0.0.1:")):
            problems.append(f"{name} must start with {BASE_URL_TEMPLATE} or http://127.0.0.1: (got {value!r})")
    if "base_url" in request or "api_base" in request:
        return problems
    if "api_key" in request:
        problems.append(
            "a case with request.api_key must also set request.base_url, since the key may reach any adapter"
        )
    base_url_variables = {
        "OPENAI_API_KEY": ("OPENAI_BASE_URL",),
        "ANTHROPIC_API_KEY": ("ANTHROPIC_BASE_URL",),
        "CO_API_KEY": ("CO_API_URL", "COHERE_BASE_URL"),
        "COHERE_API_KEY": ("CO_API_URL", "COHERE_BASE_URL"),
        "AWS_BEARER_TOKEN_BEDROCK": ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME",),
        "AWS_ACCESS_KEY_ID": ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME",),
        "AWS_SECRET_ACCESS_KEY": ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME",),
        "AWS_SESSION_TOKEN": ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME",),
    }
    for key, urls in base_url_variables.items():
        if key in env and not any(url in env for url in urls):
            problems.append(
                f"the case sets {key}, so it must set {' or '.join(urls)} (or request.base_url) to a loopback URL"
            )
    return problems


def load_case(
    path: Path, name: str, validator: jsonschema.Draft202012Validator
) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        case = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return None, [f"cannot read the case file: {error}"]
    problems = [
        f"case file breaks case.schema.json at /{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(case), key=jsonschema.exceptions.relevance)
    ]
    if not problems and case["name"] != name:
        problems.append(f"the case's name is {case['name']!r} but its file makes it {name!r}")
    if not problems:
        problems.extend(unsafe_base_urls(case))
    return (None if problems else case), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the liter-llm conformance cases through one language's driver.")
    parser.add_argument(
        "--driver", required=True, help="the driver's command line (conformance/runners/<language>/), split as sh does"
    )
    parser.add_argument("--cases", type=Path, default=CONFORMANCE_DIR / "cases", help="directory of case files")
    parser.add_argument("--results", type=Path, help="write one canonical JSON line per case to this file")
    parser.add_argument("-k", dest="name_filter", default="", help="run only cases whose name contains this")
    args = parser.parse_args(argv)

    cases_dir = args.cases.resolve()
    paths = sorted(cases_dir.rglob("*.json"), key=lambda path: case_name(cases_dir, path))
    selected = [(path, case_name(cases_dir, path)) for path in paths if args.name_filter in case_name(cases_dir, path)]
    if not selected:
        print(f"no case under {cases_dir} matches {args.name_filter!r}", file=sys.stderr)
        return 1

    validator = jsonschema.Draft202012Validator(json.loads(CASE_SCHEMA.read_text(encoding="utf-8")))
    specs = UpstreamSpecs()
    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)

    outcomes: list[Outcome] = []
    try:
        upstream = MockUpstream.from_environment()
    except MockUpstreamError as error:
        print(f"cannot start the mock upstream: {error}", file=sys.stderr)
        return 2
    with upstream, Driver(shlex.split(args.driver), os.environ) as driver:
        try:
            driver.start()
        except DriverError as error:
            print(f"cannot start the driver {args.driver!r}: {error}", file=sys.stderr)
            return 2
        for path, name in selected:
            case, problems = load_case(path, name, validator)
            if case is None:
                outcome = Outcome(name, problems)
            else:
                try:
                    outcome = run_case(case, driver, upstream, specs)
                except CaseError as error:
                    outcome = Outcome(name, [f"malformed matcher: {error}"])
                except MockUpstreamError as error:
                    outcome = Outcome(name, [f"the mock upstream refused the case: {error}"])
                except DriverError as error:
                    # The next case gets a fresh process, in the state a driver starts in.
                    outcome = Outcome(name, [f"the driver failed: {error}"])
                    try:
                        driver.restart()
                    except DriverError as restart_error:
                        print(f"cannot restart the driver: {restart_error}", file=sys.stderr)
                        return 2
            outcomes.append(outcome)
            if outcome.ok:
                print(f"PASS {name}", flush=True)
            else:
                print(f"FAIL {name}: {outcome.reasons[0]}", flush=True)
                for reason in outcome.reasons[1:]:
                    print(f"    {reason}", flush=True)

    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        with args.results.open("w", encoding="utf-8", newline="\n") as results:
            for outcome in outcomes:
                results.write(canonical_json({"case": outcome.name, "ok": outcome.ok, "result": outcome.result}) + "\n")

    failed = sum(not outcome.ok for outcome in outcomes)
    print(f"{len(outcomes) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
