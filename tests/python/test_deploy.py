"""Static checks of deploy/: the manifests parse and hold what deploy/README.md promises, the sidecar pod shares its
socket and /dev/shm as the contract says, every option given to Fovea is one `fovea serve` has, and the Dockerfiles
start from pinned images. Needs no server and no cluster: Debian's python3-yaml, and server/target/fovea.jar (from
mvn install) for the options check, which is skipped without it.

    /usr/bin/python3 -m unittest -v tests/python/test_deploy.py      (from the repository root; tests/run.sh runs it)
"""
import json
import os
import posixpath
import re
import subprocess
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
JAR = ROOT / "server" / "target" / "fovea.jar"
DOCKERFILES = sorted(p for p in (DEPLOY / "docker").glob("Dockerfile*") if not p.name.endswith(".dockerignore"))
BOOLEAN_OPTIONS = {"--allow-shared-memory"}


def yaml_files():
    return sorted(list(DEPLOY.rglob("*.yaml")) + list(DEPLOY.rglob("*.yml")))


def documents(path=None):
    """(file, document) for every non-empty YAML document under deploy/, or in one file of it."""
    found = []
    for file in [path] if path else yaml_files():
        with open(file, encoding="utf-8") as stream:
            found.extend((file, doc) for doc in yaml.safe_load_all(stream) if doc is not None)
    return found


def pod_spec(doc):
    if doc.get("kind") == "Pod":
        return doc["spec"]
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return doc["spec"]["template"]["spec"]
    return None


def containers_of(doc):
    """Every container a document runs: a pod's containers and init containers, or a ServingRuntime's."""
    spec = pod_spec(doc)
    if spec is not None:
        return list(spec.get("initContainers", [])) + list(spec.get("containers", []))
    if doc.get("kind") in ("ServingRuntime", "ClusterServingRuntime"):
        return list(doc["spec"].get("containers", []))
    return []


def is_fovea(container):
    image = container.get("image", "")
    return posixpath.basename(image.split("@")[0]).startswith("fovea")


def fovea_containers():
    """(file, document, container) for every container that runs a Fovea image."""
    return [(file, doc, c) for file, doc in documents() for c in containers_of(doc) if is_fovea(c)]


def options(tokens):
    """--name -> value (None for a flag without one) from an argument list, in either --name=value or --name value
    form."""
    found = {}
    tokens = [str(t) for t in tokens]
    for i, token in enumerate(tokens):
        if not token.startswith("--"):
            continue
        if "=" in token:
            name, value = token.split("=", 1)
        elif token not in BOOLEAN_OPTIONS and i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            name, value = token, tokens[i + 1]
        else:
            name, value = token, None
        found[name] = value
    return found


def container_tokens(container):
    return list(container.get("command", [])) + list(container.get("args", []))


def dockerfile_instructions(path):
    """(INSTRUCTION, rest) per instruction of a Dockerfile, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        keyword, _, rest = current.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return instructions


def dockerfile_serve_arguments(path):
    """The arguments `fovea serve` gets from a Dockerfile: ENTRYPOINT's after `serve`, then CMD's."""
    entrypoint, cmd = [], []
    for keyword, rest in dockerfile_instructions(path):
        if keyword == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif keyword == "CMD":
            cmd = json.loads(rest)
    return entrypoint, cmd


def image_references(path):
    """Every outside image a Dockerfile uses (FROM and COPY --from=), with ARG defaults substituted; stage names
    left out."""
    args, stages, images = {}, set(), []

    def resolve(ref):
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), ref)

    for keyword, rest in dockerfile_instructions(path):
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args.setdefault(name.strip(), default.strip().strip('"'))
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--platform")]
            ref = resolve(words[0])
            if ref not in stages:
                images.append(ref)
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2])
        elif keyword == "COPY":
            for word in rest.split():
                if word.startswith("--from="):
                    ref = resolve(word[len("--from="):])
                    if ref not in stages and not ref.isdigit():
                        images.append(ref)
    return images


def effective(container, spec, field):
    return container.get("securityContext", {}).get(field, spec.get("securityContext", {}).get(field))


class DeployTest(unittest.TestCase):

    def test_every_yaml_file_parses(self):
        files = yaml_files()
        self.assertTrue(files, "no YAML files under deploy/")
        for file in files:
            with self.subTest(file=str(file.relative_to(ROOT))):
                with open(file, encoding="utf-8") as stream:
                    docs = [doc for doc in yaml.safe_load_all(stream) if doc is not None]
                self.assertTrue(docs, "no documents")
                for doc in docs:
                    self.assertIsInstance(doc, dict)
                    self.assertIn("apiVersion", doc)
                    self.assertIn("kind", doc)

    def test_the_manifests_hold_the_expected_kinds(self):
        kinds = {doc["kind"] for _, doc in documents()}
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "ServingRuntime", "InferenceService"):
            self.assertIn(kind, kinds)
        scale_out = {doc["kind"]: doc for _, doc in documents(DEPLOY / "kubernetes" / "scale-out.yaml")}
        target = scale_out["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
        self.assertEqual(("Deployment", scale_out["Deployment"]["metadata"]["name"]), (target["kind"], target["name"]))
        ports = {p["port"]: p for p in scale_out["Service"]["spec"]["ports"]}
        self.assertEqual("grpc", ports[8001].get("appProtocol"))
        self.assertIn(8002, ports)

    def test_sidecar_shares_the_socket_and_shared_memory(self):
        pods = [doc for _, doc in documents(DEPLOY / "kubernetes" / "sidecar.yaml") if pod_spec(doc) is not None]
        self.assertEqual(1, len(pods), "sidecar.yaml should hold one pod template")
        spec = pod_spec(pods[0])
        everyone = containers_of(pods[0])
        fovea = [c for c in everyone if is_fovea(c)]
        apps = [c for c in everyone if not is_fovea(c)]
        self.assertEqual(1, len(fovea), "one Fovea container")
        self.assertEqual(1, len(apps), "one app container")
        fovea, app = fovea[0], apps[0]
        volumes = {v["name"]: v for v in spec["volumes"]}

        def mounts(container):
            return {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}

        opts = options(container_tokens(fovea))
        uds = opts.get("--uds")
        self.assertTrue(uds, "Fovea runs without --uds")
        socket_dir = posixpath.dirname(posixpath.normpath(uds))
        socket_mounts = [(path, name) for path, name in mounts(fovea).items()
                         if socket_dir == path.rstrip("/") or socket_dir.startswith(path.rstrip("/") + "/")]
        self.assertTrue(socket_mounts, "--uds %s lies in none of Fovea's mounts" % uds)
        path, name = max(socket_mounts, key=lambda m: len(m[0]))
        self.assertIn("emptyDir", volumes[name], "the socket volume is not an emptyDir")
        self.assertEqual(name, mounts(app).get(path), "the app does not mount the socket volume at %s" % path)
        self.assertIn(opts.get("--uds-mode", "0660"), ("0660", "660"))

        self.assertIn("--allow-shared-memory", opts)
        shm = mounts(fovea).get("/dev/shm")
        self.assertIsNotNone(shm, "Fovea has nothing mounted at /dev/shm")
        self.assertEqual("Memory", volumes[shm].get("emptyDir", {}).get("medium"))
        self.assertEqual(shm, mounts(app).get("/dev/shm"), "the app does not share Fovea's /dev/shm")

        # The socket is 0660: the app must be in the group that owns it.
        group = effective(fovea, spec, "runAsGroup")
        self.assertIsNotNone(group, "Fovea's group is not fixed")
        app_groups = {effective(app, spec, "runAsGroup"), spec.get("securityContext", {}).get("fsGroup")}
        app_groups.update(spec.get("securityContext", {}).get("supplementalGroups", []))
        self.assertIn(group, app_groups, "the app cannot open a 0660 socket owned by group %s" % group)

    def test_fovea_is_probed_over_grpc_health_and_given_time_to_drain(self):
        for file, doc, container in fovea_containers():
            spec = pod_spec(doc)
            if spec is None:
                continue
            with self.subTest(file=str(file.relative_to(ROOT)), container=container["name"]):
                port = int(options(container_tokens(container)).get("--port", 8001))
                for probe in ("readinessProbe", "livenessProbe"):
                    self.assertEqual(port, container.get(probe, {}).get("grpc", {}).get("port"), probe)
                grace = int(options(container_tokens(container)).get("--shutdown-grace-seconds", 30))
                self.assertGreater(spec.get("terminationGracePeriodSeconds", 30), grace)

    def test_serving_runtime_serves_the_kserve_model_folder_over_grpc(self):
        runtimes = [doc for _, doc in documents() if doc["kind"] == "ServingRuntime"]
        self.assertEqual(1, len(runtimes))
        runtime = runtimes[0]
        self.assertIn("grpc-v2", runtime["spec"]["protocolVersions"])
        (container,) = runtime["spec"]["containers"]
        opts = options(container_tokens(container))
        self.assertEqual("/mnt/models", opts.get("--model-repository"))
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        self.assertEqual(int(opts.get("--port", 8001)), ports.get("h2c"))
        services = [doc for _, doc in documents() if doc["kind"] == "InferenceService"]
        self.assertTrue(services)
        for service in services:
            model = service["spec"]["predictor"]["model"]
            self.assertEqual(runtime["metadata"]["name"], model.get("runtime"))
            self.assertEqual("grpc-v2", model.get("protocolVersion"))

    def test_every_fovea_option_is_one_fovea_serve_accepts(self):
        if not JAR.is_file():
            self.skipTest("%s is missing: build it with mvn install to check the options" % JAR.relative_to(ROOT))
        java_home = os.environ.get("JAVA_HOME") or "/usr/lib/jvm/temurin-25-jdk-amd64"
        java = Path(java_home) / "bin" / "java"
        self.assertTrue(java.is_file(), "no java at %s (set JAVA_HOME to a JDK >= 22)" % java)
        result = subprocess.run([str(java), "--enable-native-access=ALL-UNNAMED", "-jar", str(JAR), "serve", "--help"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(0, result.returncode, result.stderr)
        known = set(re.findall(r"--[a-z][a-z0-9-]*", result.stdout))
        self.assertIn("--model-repository", known, "unexpected --help output:\n" + result.stdout)

        used = []
        for file, _, container in fovea_containers():
            used += [(file, container["name"], name) for name in options(container_tokens(container))]
        for file in DOCKERFILES:
            entrypoint, cmd = dockerfile_serve_arguments(file)
            self.assertIn("serve", entrypoint, "%s: ENTRYPOINT does not run `fovea serve`" % file.name)
            serve_args = entrypoint[entrypoint.index("serve") + 1:] + cmd
            used += [(file, "ENTRYPOINT/CMD", name) for name in options(serve_args)]
        self.assertTrue(used)
        for file, where, name in used:
            with self.subTest(file=str(file.relative_to(ROOT)), where=where, option=name):
                self.assertIn(name, known, "`fovea serve --help` does not list %s" % name)

    def test_every_fovea_listens_on_all_interfaces_explicitly(self):
        # `fovea serve` listens on 127.0.0.1 by default; in a container that is unreachable from kubelet's probes,
        # other pods and `docker run -p`, so every manifest and image must say --host=0.0.0.0 itself.
        for file, _, container in fovea_containers():
            with self.subTest(file=str(file.relative_to(ROOT)), container=container["name"]):
                self.assertEqual("0.0.0.0", options(container_tokens(container)).get("--host"))
        for file in DOCKERFILES:
            entrypoint, cmd = dockerfile_serve_arguments(file)
            with self.subTest(file=file.name):
                self.assertEqual("0.0.0.0", options(entrypoint[entrypoint.index("serve") + 1:] + cmd).get("--host"))

    def test_dockerfiles_start_from_pinned_tags(self):
        self.assertEqual({"Dockerfile.cpu", "Dockerfile.cuda"}, {p.name for p in DOCKERFILES})
        for file in DOCKERFILES:
            images = image_references(file)
            self.assertTrue(images, "%s names no image" % file.name)
            for image in images:
                with self.subTest(file=file.name, image=image):
                    self.assertNotIn("$", image, "unresolved build argument")
                    if "@sha256:" in image:
                        continue
                    name = image.rsplit("/", 1)[-1]
                    self.assertIn(":", name, "no tag: pin one")
                    self.assertNotEqual("latest", name.rsplit(":", 1)[1])


if __name__ == "__main__":
    unittest.main()
