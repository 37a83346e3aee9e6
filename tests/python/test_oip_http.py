"""Fovea's Open Inference Protocol over HTTP/REST (KServe v2 REST with Triton's binary tensor extension) from Python's
standard library only (urllib.request, http.client), as a curl user or a plain HTTP client reaches it: the server at
FOVEA_HTTP (host:port). The shared-memory test runs when FOVEA_SHM_DIR is the server's /dev/shm (it was started with
--allow-shared-memory, without --allow-shared-memory-tcp: HttpBindingTest covers shared memory allowed over TCP).

Run by tests/run.sh, which starts the server with --http-port 0 and sets FOVEA_HTTP from the port it prints.
"""
import http.client
import json
import os
import struct
import unittest
import urllib.error
import urllib.request
import uuid

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "native-bindings", "src", "test", "resources",
                        "fixtures")


def frame(width=32, height=32):
    """RGB bytes of a gradient, row-major, as a camera would hand them over."""
    return bytes(v for y in range(height) for x in range(width) for v in (x * 255 // width, 90, y * 255 // height))


def call(method, path, body=None, headers=None):
    """(status, headers, body bytes) of one request; HTTP errors are answers too."""
    request = urllib.request.Request("http://%s%s" % (os.environ["FOVEA_HTTP"], path), data=body,
                                     headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def post_json(path, document):
    return call("POST", path, json.dumps(document).encode(), {"Content-Type": "application/json"})


def post_binary(path, document, *parts):
    """A JSON header and binary parts after it, as Triton's binary tensor extension lays a body out."""
    header = json.dumps(document).encode()
    return call("POST", path, header + b"".join(parts),
                {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})


def split(headers, body):
    """The JSON part and the binary part of a response."""
    length = headers.get("Inference-Header-Content-Length")
    if length is None:
        return json.loads(body), b""
    return json.loads(body[:int(length)]), body[int(length):]


class OpenInferenceHttpTest(unittest.TestCase):

    def test_health_and_server_metadata(self):
        self.assertEqual(200, call("GET", "/v2/health/live")[0])
        self.assertEqual(200, call("GET", "/v2/health/ready")[0])
        status, _, body = call("GET", "/v2")
        self.assertEqual(200, status)
        self.assertEqual("fovea", json.loads(body)["name"])

    def test_model_metadata_ready_config_and_statistics(self):
        metadata = json.loads(call("GET", "/v2/models/triton_cnn/versions/1")[2])
        self.assertEqual([-1, 3, 32, 32], metadata["inputs"][0]["shape"])
        self.assertEqual(200, call("GET", "/v2/models/cnn/ready")[0])
        self.assertEqual(400, call("GET", "/v2/models/broken/ready")[0])
        self.assertEqual(404, call("GET", "/v2/models/no_such_model/ready")[0])
        config = json.loads(call("GET", "/v2/models/triton_cnn/config")[2])
        self.assertEqual("pytorch_libtorch", config["platform"])
        stats = json.loads(call("GET", "/v2/models/cnn/stats")[2])
        self.assertEqual("cnn", stats["model_stats"][0]["name"])
        index = json.loads(post_json("/v2/repository/index", {"ready": True})[2])
        self.assertIn("cnn", [model["name"] for model in index])

    def test_json_inference_on_a_tensor_model(self):
        status, headers, body = post_json("/v2/models/raw/infer", {
            "id": "py-1",
            "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [[1, 2, 3, 4], [5, 6, 7, 8]]}],
            "outputs": [{"name": "output_1"}]})
        self.assertEqual(200, status, body)
        answer, _ = split(headers, body)
        self.assertEqual("py-1", answer["id"])
        self.assertEqual([10.0, 26.0], answer["outputs"][0]["data"])

    def test_binary_tensors_in_and_out(self):
        status, headers, body = post_binary("/v2/models/triton_cnn/infer", {
            "inputs": [{"name": "INPUT__0", "shape": [1, 3, 32, 32], "datatype": "FP32",
                        "parameters": {"binary_data_size": 3072 * 4}}],
            "outputs": [{"name": "OUTPUT__0", "parameters": {"binary_data": True}}]},
            struct.pack("<3072f", *([0.25] * 3072)))
        self.assertEqual(200, status, body)
        answer, binary = split(headers, body)
        self.assertEqual(40, answer["outputs"][0]["parameters"]["binary_data_size"])
        self.assertEqual(40, len(binary))
        self.assertEqual(10, len(struct.unpack("<10f", binary)))

    def test_a_picture_model_takes_a_frame_and_encoded_images(self):
        status, headers, body = post_binary("/v2/models/cnn/infer", {
            "inputs": [{"name": "input", "shape": [1, 32, 32, 3], "datatype": "UINT8",
                        "parameters": {"binary_data_size": 32 * 32 * 3}}]}, frame())
        self.assertEqual(200, status, body)
        for name in ("cat.png", "coffee.jpg"):
            with open(os.path.join(FIXTURES, name), "rb") as f:
                image = f.read()
            element = struct.pack("<I", len(image)) + image
            status, headers, body = post_binary("/v2/models/cnn/infer", {
                "inputs": [{"name": "input", "shape": [1], "datatype": "BYTES",
                            "parameters": {"binary_data_size": len(element)}}],
                "outputs": [{"name": "output_0", "parameters": {"classification": 2}}]}, element)
            self.assertEqual(200, status, body)
            answer, _ = split(headers, body)
            self.assertEqual([1, 2], answer["outputs"][0]["shape"], name)

    def test_errors_are_json_with_kserve_status_codes(self):
        status, _, body = call("POST", "/v2/models/raw/infer", b"{not json")
        self.assertEqual(400, status)
        self.assertIn("invalid JSON", json.loads(body)["error"])
        status, _, body = post_json("/v2/models/triton_cnn/infer", {
            "inputs": [{"name": "INPUT__0", "shape": [1, 3, 32, 32], "datatype": "INT32", "data": [0] * 3072}]})
        self.assertEqual(400, status)
        self.assertIn("INT32", json.loads(body)["error"])
        status, _, body = post_json("/v2/models/no_such_model/infer", {"inputs": []})
        self.assertEqual(404, status)
        self.assertEqual(404, call("GET", "/v2/no/such/route")[0])
        self.assertEqual(405, call("GET", "/v2/models/raw/infer")[0])

    def test_a_body_over_the_limit_is_413(self):
        # http.client keeps the connection alive, so the server discards the body and answers; urllib would ask
        # to close the connection, and the server then closes it before reading the rest.
        host, port = os.environ["FOVEA_HTTP"].rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            connection.request("POST", "/v2/models/raw/infer", body=b" " * (65 << 20))
            response = connection.getresponse()
            self.assertEqual(413, response.status)
            self.assertIn("max-message-bytes", json.loads(response.read())["error"])
        finally:
            connection.close()

    @unittest.skipUnless(os.environ.get("FOVEA_SHM_DIR"), "needs FOVEA_SHM_DIR (server with --allow-shared-memory)")
    def test_system_shared_memory_is_refused_over_tcp_by_default(self):
        # Shared memory is for Unix socket peers unless the server runs with --allow-shared-memory-tcp; HTTP is TCP.
        key = "fovea-http-%s" % uuid.uuid4().hex
        path = os.path.join(os.environ["FOVEA_SHM_DIR"], key)
        with open(path, "wb") as f:
            f.write(frame())
        try:
            status, _, body = post_json("/v2/systemsharedmemory/region/http-%s/register" % key,
                                        {"key": key, "offset": 0, "byte_size": 32 * 32 * 3})
            self.assertEqual(403, status, body)
            self.assertIn("error", json.loads(body))
        finally:
            os.remove(path)


if __name__ == "__main__":
    unittest.main()
