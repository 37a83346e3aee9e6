"""Where Triton answers a request a particular way, Fovea answers it the same way: what a Triton client sees from
Fovea's Open Inference Protocol service, with stubs generated from proto/inference by grpc_tools, over the transport
FOVEA_TARGET names. The server serves the server tests' repository: triton_cnn is the test CNN in Triton's layout
(input INPUT__0 FP32 [-1, 3, 32, 32]), slow burns ~0.1 s a call, raw takes FP32 [N, 4].

Run by tests/run.sh, which generates the stubs, starts the server and sets FOVEA_TARGET and FOVEA_STUBS.
"""
import os
import struct
import sys
import unittest

import grpc

sys.path.insert(0, os.environ["FOVEA_STUBS"])
from inference import grpc_service_pb2 as pb, grpc_service_pb2_grpc as pb_grpc  # noqa: E402


def tensor_request(datatype, shape, data, model="triton_cnn"):
    tensor = pb.ModelInferRequest.InferInputTensor(name="INPUT__0", datatype=datatype, shape=shape)
    return pb.ModelInferRequest(model_name=model, inputs=[tensor], raw_input_contents=[data])


def floats(count):
    return struct.pack("<%df" % count, *[(i % 89) / 89.0 - 0.5 for i in range(count)])


class TritonParityTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(os.environ["FOVEA_TARGET"])
        cls.stub = pb_grpc.GRPCInferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def refusal(self, request):
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.ModelInfer(request, timeout=30)
        return caught.exception

    def test_a_wrong_datatype_is_refused_with_tritons_message(self):
        error = self.refusal(tensor_request("INT32", [1, 3, 32, 32], floats(3072)))
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, error.code())
        self.assertEqual("inference input 'INPUT__0' data-type is 'INT32', but model 'triton_cnn' expects 'FP32'",
                         error.details())

    def test_a_wrong_shape_is_refused_even_when_the_byte_count_fits(self):
        error = self.refusal(tensor_request("FP32", [1, 3, 64, 16], floats(3072)))
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, error.code())
        self.assertEqual("unexpected shape for input 'INPUT__0' for model 'triton_cnn'. Expected [-1,3,32,32], "
                         "got [1,3,64,16]", error.details())
        self.assertEqual(10 * 4, len(self.stub.ModelInfer(tensor_request("FP32", [1, 3, 32, 32], floats(3072)),
                                                          timeout=30).raw_output_contents[0]))

    def test_raw_and_typed_contents_together_are_refused(self):
        request = tensor_request("FP32", [1, 3, 32, 32], floats(3072))
        request.inputs[0].contents.fp32_contents.extend([1.0])
        error = self.refusal(request)
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, error.code())
        self.assertIn("contents field must not be specified", error.details())

    def test_model_ready_for_an_unknown_model_is_not_found(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.ModelReady(pb.ModelReadyRequest(name="no_such_model"), timeout=30)
        self.assertEqual(grpc.StatusCode.NOT_FOUND, caught.exception.code())
        self.assertTrue(self.stub.ModelReady(pb.ModelReadyRequest(name="triton_cnn"), timeout=30).ready)

    def test_a_stream_answers_in_request_order(self):
        frame = pb.ModelInferRequest.InferInputTensor(name="input", datatype="UINT8", shape=[1, 16, 16, 3])
        raw = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=[1, 4])
        requests, expected = [], []
        for i in range(3):
            requests += [pb.ModelInferRequest(model_name="slow", id="slow%d" % i, inputs=[frame],
                                              raw_input_contents=[bytes(16 * 16 * 3)]),
                         pb.ModelInferRequest(model_name="no_such_model", id="bad%d" % i),
                         pb.ModelInferRequest(model_name="raw", id="fast%d" % i, inputs=[raw],
                                              raw_input_contents=[bytes(16)])]
            expected += ["slow%d" % i, "bad%d error" % i, "fast%d" % i]
        received = [response.infer_response.id + (" error" if response.error_message else "")
                    for response in self.stub.ModelStreamInfer(iter(requests), timeout=60)]
        self.assertEqual(expected, received)

    def test_log_settings_are_read_and_checked(self):
        settings = self.stub.LogSettings(pb.LogSettingsRequest(), timeout=30).settings
        self.assertTrue(settings["log_error"].bool_param)
        self.assertIn(settings["log_format"].string_param, ("default", "ISO8601"))
        unchanged = pb.LogSettingsRequest()
        unchanged.settings["log_error"].bool_param = True
        self.assertTrue(self.stub.LogSettings(unchanged, timeout=30).settings["log_error"].bool_param)
        bad = pb.LogSettingsRequest()
        bad.settings["log_colour"].bool_param = True
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.LogSettings(bad, timeout=30)
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, caught.exception.code())

    def test_trace_setting_reads_tritons_settings_and_refuses_a_bad_level(self):
        settings = self.stub.TraceSetting(pb.TraceSettingRequest(), timeout=30).settings
        self.assertEqual(["OFF"], list(settings["trace_level"].value))
        self.assertEqual(["opentelemetry"], list(settings["trace_mode"].value))
        bad = pb.TraceSettingRequest()
        bad.settings["trace_level"].value.append("TENSORS")
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.TraceSetting(bad, timeout=30)
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, caught.exception.code())
        self.assertIn("trace_level", caught.exception.details())


if __name__ == "__main__":
    unittest.main()
