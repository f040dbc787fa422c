"""Validates deploy/kubernetes offline and strictly.

Renders the kustomize base (base/) and the dev overlay (dev/, the base and a Redis), then checks
every object with kubeconform -strict against JSON schemas made here: Kubernetes' own (PyPI kubernetes-validate, strict
variant, each made standalone by inlining its $refs) and KEDA's ScaledObject (from the CRD in
KEDA's Go module, with additionalProperties false wherever the CRD lists the properties).
Then checks what a schema cannot: the shutdown timings, probes, limits and security settings,
and that kustomization.yaml lists every manifest of the directory.

usage: check.py --kubeconform BIN --kustomize BIN --keda-crd FILE --schemas DIR
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import subprocess
import sys
from typing import Any

import tomllib
import yaml

HERE = pathlib.Path(__file__).resolve().parent
K8S_VERSION = "v1.33.0"
# kubeconform's file name for each kind: {{ .ResourceKind }}{{ .KindSuffix }}.json
KINDS = {
    "deployment-apps-v1": "deployment-apps-v1",
    "service-v1": "service-v1",
    "configmap-v1": "configmap-v1",
    "secret-v1": "secret-v1",
    "poddisruptionbudget-policy-v1": "poddisruptionbudget-policy-v1",
}


def inline(node: Any, definitions: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Replaces every `_definitions.json#/$defs/X` $ref with the definition itself (a recursive
    one, none in these kinds, is an error)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and "#/$defs/" in ref:
            name = ref.split("#/$defs/", 1)[1]
            if name in seen:
                raise SystemExit(f"recursive definition {name}: cannot inline")
            return inline(copy.deepcopy(definitions[name]), definitions, (*seen, name))
        return {k: inline(v, definitions, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(v, definitions, seen) for v in node]
    return node


def kubernetes_schemas(out: pathlib.Path) -> None:
    import kubernetes_validate

    base = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"{K8S_VERSION}-local-strict"
    definitions = json.loads((base / "_definitions.json").read_text())["$defs"]
    for source, target in KINDS.items():
        schema = json.loads((base / f"{source}.json").read_text())
        (out / f"{target}.json").write_text(json.dumps(inline(schema, definitions)))


def strict(node: Any) -> Any:
    """An OpenAPI v3 schema from a CRD as a strict JSON schema: objects that list their
    properties allow no others (unless the CRD preserves unknown fields)."""
    if isinstance(node, dict):
        node = {k: strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


def keda_schema(crd_path: pathlib.Path, out: pathlib.Path) -> None:
    crd = yaml.safe_load(crd_path.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["apiVersion"] = {"enum": ["keda.sh/v1alpha1"]}
    schema["properties"]["kind"] = {"enum": ["ScaledObject"]}
    schema["properties"]["metadata"] = {"type": "object"}
    schema.setdefault("required", [])
    schema["required"] = sorted({*schema["required"], "apiVersion", "kind", "metadata", "spec"})
    (out / "scaledobject-keda-v1alpha1.json").write_text(json.dumps(schema))


def kubeconform(binary: str, schemas: pathlib.Path, documents: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "-strict",
            "-summary",
            "-output",
            "text",
            "-schema-location",
            f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            "-",
        ],
        input=documents,
        capture_output=True,
        text=True,
        check=False,
    )


def render(kustomize: str, directory: pathlib.Path) -> str:
    return subprocess.run([kustomize, "build", str(directory)], capture_output=True, text=True, check=True).stdout


def check_semantics(objects: list[dict[str, Any]]) -> list[str]:
    problems = []
    by_kind = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    deployment = by_kind[("Deployment", "liter-llm")]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config = by_kind[("ConfigMap", "liter-llm-config")]["data"]["liter-llm.toml"]
    server = tomllib.loads(config)["server"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    needed = pre_stop + server.get("shutdown_grace", 5) + server.get("drain_timeout", 30)
    if pod["terminationGracePeriodSeconds"] <= needed:
        problems.append(
            f"terminationGracePeriodSeconds must exceed preStop + shutdown_grace + drain_timeout ({needed})"
        )
    if server.get("listen") != "0.0.0.0:8080":
        problems.append("the ConfigMap's server.listen must be 0.0.0.0:8080")
    for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")]:
        if container.get(probe, {}).get("httpGet", {}).get("path") != path:
            problems.append(f"{probe} must GET {path}")
    limits = container["resources"]["limits"]
    if (limits.get("cpu"), limits.get("memory")) != ("2", "1Gi"):
        problems.append("the gateway's limits are 2 CPU and 1Gi")
    security = container["securityContext"]
    if not (
        pod["securityContext"].get("runAsNonRoot")
        and security.get("readOnlyRootFilesystem")
        and security.get("allowPrivilegeEscalation") is False
    ):
        problems.append("the pod must run as non-root, with a read-only root filesystem and no privilege escalation")
    if not pod.get("topologySpreadConstraints"):
        problems.append("the pods must spread across nodes")
    services = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"].startswith("liter-llm")]
    if sorted(s["spec"].get("clusterIP", "") == "None" for s in services if "redis" not in s["metadata"]["name"]) != [
        False,
        True,
    ]:
        problems.append("a ClusterIP Service and a headless Service")
    scaled = by_kind[("ScaledObject", "liter-llm")]
    if scaled["spec"]["scaleTargetRef"]["name"] != deployment["metadata"]["name"]:
        problems.append("the ScaledObject must scale the Deployment")
    query = scaled["spec"]["triggers"][0]["metadata"]["query"]
    if not query.startswith("sum("):
        problems.append("the ScaledObject's query must aggregate to one number")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconform", required=True)
    parser.add_argument("--kustomize", required=True)
    parser.add_argument("--keda-crd", required=True, type=pathlib.Path)
    parser.add_argument("--schemas", required=True, type=pathlib.Path)
    args = parser.parse_args()
    args.schemas.mkdir(parents=True, exist_ok=True)
    kubernetes_schemas(args.schemas)
    keda_schema(args.keda_crd, args.schemas)
    failures = []

    listed = yaml.safe_load((HERE / "base" / "kustomization.yaml").read_text())["resources"]
    present = sorted(p.name for p in (HERE / "base").glob("*.yaml") if p.name != "kustomization.yaml")
    if sorted(listed) != present:
        failures.append(f"kustomization.yaml lists {sorted(listed)}, the directory holds {present}")

    for directory in [HERE / "base", HERE / "dev"]:
        documents = render(args.kustomize, directory)
        result = kubeconform(args.kubeconform, args.schemas, documents)
        print(f"{directory.relative_to(HERE.parent.parent)}: {result.stdout.strip()}")
        if result.returncode != 0:
            failures.append(f"kubeconform rejected {directory}:\n{result.stdout}{result.stderr}")
        objects = [o for o in yaml.safe_load_all(documents) if o]
        if "Valid: 0," in result.stdout or not objects:
            failures.append(f"nothing was validated in {directory}")
        failures += [f"{directory.name}: {p}" for p in check_semantics(objects)]

    # The validation is strict: an unknown field, a missing required field, and a mistyped
    # ScaledObject are each rejected.
    base = [o for o in yaml.safe_load_all(render(args.kustomize, HERE / "base")) if o]
    for name, mutate in [
        ("an unknown container field", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(probes={})),
        ("a missing containers list", lambda d: d["spec"]["template"]["spec"].pop("containers")),
        ("an unknown ScaledObject field", lambda d: d["spec"].update(replicas=3)),
        ("a ScaledObject trigger without a type", lambda d: d["spec"]["triggers"][0].pop("type")),
    ]:
        kind = "ScaledObject" if "ScaledObject" in name else "Deployment"
        broken = copy.deepcopy(next(o for o in base if o["kind"] == kind))
        mutate(broken)
        if kubeconform(args.kubeconform, args.schemas, yaml.safe_dump(broken)).returncode == 0:
            failures.append(f"kubeconform accepted {name}")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    print("manifests: ok" if not failures else f"manifests: {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
