"""Fovea's Open Inference Protocol (KServe v2 / Triton gRPC) API from Python, with stubs generated from
proto/inference by grpc_tools: what a KServe or Triton client sends, over the transport FOVEA_TARGET names (TCP or
unix:///path). Shared-memory tests run when FOVEA_SHM_DIR is the server's /dev/shm (it was started with
--allow-shared-memory, which by default lets in only Unix socket peers with the server's uid: over the socket they
use it, over TCP they check it is refused).

Run by tests/run.sh, which generates the stubs, starts the server and sets FOVEA_TARGET and FOVEA_STUBS.
"""
import os
import struct
import sys
import unittest
import uuid

import grpc

sys.path.insert(0, os.environ["FOVEA_STUBS"])
from inference import grpc_service_pb2 as pb, grpc_service_pb2_grpc as pb_grpc  # noqa: E402

# The server lets only Unix socket peers use shared memory by default.
OVER_UNIX_SOCKET = os.environ["FOVEA_TARGET"].startswith("unix:")


def frame(width=32, height=32):
    """RGB bytes of a gradient, row-major, as a camera would hand them over."""
    return bytes(v for y in range(height) for x in range(width) for v in (x * 255 // width, 90, y * 255 // height))


def floats(raw):
    return struct.unpack("<%df" % (len(raw) // 4), raw)


def uint8_input(batch=1):
    return pb.ModelInferRequest.InferInputTensor(name="input", datatype="UINT8", shape=[batch, 32, 32, 3])


class OpenInferenceProtocolTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(os.environ["FOVEA_TARGET"])
        cls.stub = pb_grpc.GRPCInferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def test_server_is_live_ready_and_names_its_extensions(self):
        self.assertTrue(self.stub.ServerLive(pb.ServerLiveRequest()).live)
        self.assertTrue(self.stub.ServerReady(pb.ServerReadyRequest()).ready)
        metadata = self.stub.ServerMetadata(pb.ServerMetadataRequest())
        self.assertEqual("fovea", metadata.name)
        self.assertIn("classification", metadata.extensions)

    def test_infers_a_batch_of_raw_frames(self):
        response = self.stub.ModelInfer(pb.ModelInferRequest(
            model_name="cnn", id="py-1", inputs=[uint8_input(2)], raw_input_contents=[frame() + frame()]))
        self.assertEqual("py-1", response.id)
        self.assertEqual([2, 10], list(response.outputs[0].shape))
        logits = floats(response.raw_output_contents[0])
        self.assertEqual(logits[:10], logits[10:], "the same frame twice gives the same row twice")

    def test_triton_model_classifies_with_labels(self):
        tensor = struct.pack("<%df" % (3 * 32 * 32), *[(i % 97) / 97 - 0.5 for i in range(3 * 32 * 32)])
        output = pb.ModelInferRequest.InferRequestedOutputTensor(name="OUTPUT__0")
        output.parameters["classification"].int64_param = 2
        response = self.stub.ModelInfer(pb.ModelInferRequest(
            model_name="triton_cnn",
            inputs=[pb.ModelInferRequest.InferInputTensor(name="INPUT__0", datatype="FP32", shape=[1, 3, 32, 32])],
            outputs=[output], raw_input_contents=[tensor]))
        self.assertEqual("BYTES", response.outputs[0].datatype)
        raw = response.raw_output_contents[0]
        (length,) = struct.unpack_from("<I", raw, 0)
        value, index, label = raw[4:4 + length].decode().split(":")
        self.assertIn(label, ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                              "truck"])

    def test_streamed_requests_get_one_response_each(self):
        requests = [pb.ModelInferRequest(model_name="cnn", id=str(i), inputs=[uint8_input()],
                                         raw_input_contents=[frame()]) for i in range(3)]
        responses = list(self.stub.ModelStreamInfer(iter(requests), timeout=30))
        self.assertEqual({"0", "1", "2"}, {r.infer_response.id for r in responses})
        self.assertTrue(all(r.error_message == "" for r in responses))

    def test_errors_use_the_statuses_the_protocol_names(self):
        with self.assertRaises(grpc.RpcError) as missing:
            self.stub.ModelInfer(pb.ModelInferRequest(model_name="nope", inputs=[uint8_input()],
                                                      raw_input_contents=[frame()]))
        self.assertEqual(grpc.StatusCode.NOT_FOUND, missing.exception.code())
        with self.assertRaises(grpc.RpcError) as short:
            self.stub.ModelInfer(pb.ModelInferRequest(model_name="cnn", inputs=[uint8_input()],
                                                      raw_input_contents=[b"\0" * 10]))
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, short.exception.code())
        self.assertIn("inputs[0]", short.exception.details())

    @unittest.skipUnless(os.environ.get("FOVEA_SHM_DIR") and OVER_UNIX_SOCKET,
                         "shared memory needs the server's /dev/shm and its Unix socket")
    def test_frames_in_system_shared_memory(self):
        key = "fovea_test_" + uuid.uuid4().hex[:8]
        path = os.path.join(os.environ["FOVEA_SHM_DIR"], key)
        with open(path, "wb") as f:
            f.write(frame())
        try:
            self.stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
                name=key, key="/" + key, byte_size=32 * 32 * 3))
            shared = uint8_input()
            shared.parameters["shared_memory_region"].string_param = key
            shared.parameters["shared_memory_byte_size"].int64_param = 32 * 32 * 3
            by_reference = self.stub.ModelInfer(pb.ModelInferRequest(model_name="cnn", inputs=[shared]))
            inline = self.stub.ModelInfer(pb.ModelInferRequest(model_name="cnn", inputs=[uint8_input()],
                                                                raw_input_contents=[frame()]))
            self.assertEqual(inline.raw_output_contents[0], by_reference.raw_output_contents[0])
            status = self.stub.SystemSharedMemoryStatus(pb.SystemSharedMemoryStatusRequest(name=key))
            self.assertEqual(32 * 32 * 3, status.regions[key].byte_size)

            os.truncate(path, 0)
            with self.assertRaises(grpc.RpcError) as truncated:
                self.stub.ModelInfer(pb.ModelInferRequest(model_name="cnn", inputs=[shared]))
            self.assertEqual(grpc.StatusCode.FAILED_PRECONDITION, truncated.exception.code())
            self.assertIn("truncated after registration", truncated.exception.details())
            again = self.stub.ModelInfer(pb.ModelInferRequest(model_name="cnn", inputs=[uint8_input()],
                                                               raw_input_contents=[frame()]))
            self.assertEqual(inline.raw_output_contents[0], again.raw_output_contents[0], "the server goes on")
        finally:
            self.stub.SystemSharedMemoryUnregister(pb.SystemSharedMemoryUnregisterRequest(name=key))
            os.remove(path)

    @unittest.skipUnless(os.environ.get("FOVEA_SHM_DIR") and not OVER_UNIX_SOCKET,
                         "checks the TCP refusal of a server with shared memory on")
    def test_shared_memory_is_refused_over_tcp(self):
        with self.assertRaises(grpc.RpcError) as refused:
            self.stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(
                name="tcp", key="/fovea_never_mapped", byte_size=16))
        self.assertEqual(grpc.StatusCode.PERMISSION_DENIED, refused.exception.code())
        self.assertIn("--allow-shared-memory-tcp", refused.exception.details())

if __name__ == "__main__":
    unittest.main()
