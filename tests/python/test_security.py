"""Fovea's TCP listener and metrics endpoint with TLS and a bearer token (`fovea serve --tls-cert --tls-key
--auth-token-file`), from Python's grpcio and urllib.

Run by tests/run.sh, which makes a throw-away CA and server certificate with openssl, starts a second server with
them and a token file, and sets FOVEA_SECURE_TARGET (host:port), FOVEA_CA (the CA's PEM), FOVEA_TOKEN_FILE,
FOVEA_METRICS_URL (https://...) and FOVEA_STUBS.
"""
import os
import ssl
import sys
import unittest
import urllib.error
import urllib.request

import grpc

sys.path.insert(0, os.environ["FOVEA_STUBS"])
from fovea.v1 import inference_pb2, inference_pb2_grpc  # noqa: E402
from inference import grpc_service_pb2 as oip_pb, grpc_service_pb2_grpc as oip_grpc  # noqa: E402

TARGET = os.environ.get("FOVEA_SECURE_TARGET", "")
SERVING = b"\x08\x01"  # grpc.health.v1.HealthCheckResponse{status: SERVING}; grpcio-health-checking is not needed


def read(path):
    with open(path, "rb") as stream:
        return stream.read()


@unittest.skipUnless(TARGET, "needs a server with TLS and tokens (tests/run.sh starts one)")
class SecurityTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.token = read(os.environ["FOVEA_TOKEN_FILE"]).decode().split()[0]
        cls.channel = grpc.secure_channel(TARGET, grpc.ssl_channel_credentials(read(os.environ["FOVEA_CA"])))

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def metadata(self, token=None):
        return (("authorization", "Bearer " + (token or self.token)),)

    def test_both_apis_answer_over_tls_with_the_token(self):
        models = inference_pb2_grpc.InferenceServiceStub(self.channel).ListModels(
            inference_pb2.ListModelsRequest(), timeout=30, metadata=self.metadata()).models
        self.assertIn("cnn", [m.name for m in models])
        metadata = oip_grpc.GRPCInferenceServiceStub(self.channel).ServerMetadata(
            oip_pb.ServerMetadataRequest(), timeout=30, metadata=self.metadata())
        self.assertEqual("fovea", metadata.name)

    def test_both_apis_refuse_a_missing_or_wrong_token_without_echoing_it(self):
        calls = [
            lambda **kw: inference_pb2_grpc.InferenceServiceStub(self.channel).ListModels(
                inference_pb2.ListModelsRequest(), timeout=30, **kw),
            lambda **kw: oip_grpc.GRPCInferenceServiceStub(self.channel).ServerMetadata(
                oip_pb.ServerMetadataRequest(), timeout=30, **kw),
        ]
        wrong = "python-guess-" + self.token
        for call in calls:
            for kw in ({}, {"metadata": self.metadata(wrong)}):
                with self.assertRaises(grpc.RpcError) as raised:
                    call(**kw)
                self.assertEqual(grpc.StatusCode.UNAUTHENTICATED, raised.exception.code())
                self.assertNotIn(self.token, raised.exception.details())

    def test_health_answers_without_a_token(self):
        check = self.channel.unary_unary("/grpc.health.v1.Health/Check",
                                         request_serializer=lambda _: b"", response_deserializer=lambda raw: raw)
        self.assertEqual(SERVING, check(None, timeout=30))

    def test_a_plaintext_client_gets_nothing(self):
        with grpc.insecure_channel(TARGET) as plaintext:
            with self.assertRaises(grpc.RpcError) as raised:
                inference_pb2_grpc.InferenceServiceStub(plaintext).ListModels(
                    inference_pb2.ListModelsRequest(), timeout=30, metadata=self.metadata())
        self.assertEqual(grpc.StatusCode.UNAVAILABLE, raised.exception.code())

    def test_metrics_need_https_and_the_token(self):
        context = ssl.create_default_context(cafile=os.environ["FOVEA_CA"])
        url = os.environ["FOVEA_METRICS_URL"]
        request = urllib.request.Request(url, headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            self.assertIn(b"fovea_native_memory_bytes", response.read())
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(url, context=context, timeout=30)
        self.assertEqual(401, raised.exception.code)


if __name__ == "__main__":
    unittest.main()
