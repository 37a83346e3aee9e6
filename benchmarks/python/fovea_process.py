"""Shared by the Python benchmarks: stubs generated from proto/ with grpc_tools, and a `fovea serve` process on
loopback whose printed ports are read back."""
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stubs(work):
    """Generates Python stubs of every proto/ file into `work` and puts it on the path: then `from inference import
    grpc_service_pb2` and `from fovea.v1 import inference_pb2` work."""
    protos = [os.path.join(ROOT, "proto", package, name) for package in ("fovea/v1", "inference")
              for name in sorted(os.listdir(os.path.join(ROOT, "proto", package))) if name.endswith(".proto")]
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "proto"),
                    "--python_out=" + work, "--grpc_python_out=" + work] + protos, check=True)
    for package in ("inference", "fovea", "fovea/v1"):
        open(os.path.join(work, package, "__init__.py"), "a").close()
    sys.path.insert(0, work)


def has_option(jar, option):
    """Whether this jar's `fovea serve` takes `option` (an older jar, for a before/after run, may not)."""
    result = subprocess.run(["java", "--enable-native-access=ALL-UNNAMED", "-jar", jar, "serve", "--help"],
                            capture_output=True, text=True)
    return option in result.stdout + result.stderr


def start_server(jar, repository, work, *options):
    """Starts `fovea serve` on 127.0.0.1 (gRPC on a free port, metrics off, plus `options`); returns the process and
    its log's text once it serves. Exits the script if the server dies or does not start in 120 s."""
    path = os.path.join(work, "server.log")
    log = open(path, "w")
    server = subprocess.Popen(["java", "--enable-native-access=ALL-UNNAMED", "-jar", jar, "serve",
                               "--model-repository", repository, "--host", "127.0.0.1", "--port", "0",
                               "--metrics-port", "-1"] + list(options), stdout=log, stderr=subprocess.STDOUT)
    for _ in range(1200):
        with open(path) as lines:
            text = lines.read()
        if re.search(r"^fovea: serving .* on 127\.0\.0\.1:\d+$", text, re.M):
            return server, text
        if server.poll() is not None:
            sys.exit("server exited:\n" + text)
        time.sleep(0.1)
    server.kill()
    sys.exit("server did not start")


def port(log_text, pattern):
    """The port a start-up line matching `pattern` (a regex with one group) names."""
    return int(re.search(pattern, log_text, re.M).group(1))
