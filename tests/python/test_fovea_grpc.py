"""Fovea's fovea.v1 API from Python, with stubs generated from proto/ by grpc_tools (Debian's python3-grpc-tools).

Run by tests/run.sh, which generates the stubs, starts a server on the server tests' model repository and
sets FOVEA_TARGET and FOVEA_STUBS.
"""
import os
import sys
import unittest

import grpc

sys.path.insert(0, os.environ["FOVEA_STUBS"])
from fovea.v1 import image_pb2, inference_pb2, inference_pb2_grpc, model_pb2  # noqa: E402


def gradient(width, height):
    """RGB bytes of a simple picture: a horizontal red ramp over a vertical blue ramp."""
    data = bytearray()
    for y in range(height):
        for x in range(width):
            data += bytes((x * 255 // width, 90, y * 255 // height))
    return bytes(data)


def pixels(width=40, height=30):
    return image_pb2.Image(pixels=image_pb2.RawPixels(
        data=gradient(width, height), width=width, height=height, format=image_pb2.PIXEL_FORMAT_RGB))


class FoveaGrpcTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(os.environ["FOVEA_TARGET"])
        cls.stub = inference_pb2_grpc.InferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def test_lists_models_with_their_state(self):
        models = {m.name: m for m in self.stub.ListModels(inference_pb2.ListModelsRequest(), timeout=30).models}
        self.assertEqual(model_pb2.MODEL_STATUS_READY, models["cnn"].status)
        self.assertEqual(model_pb2.MODEL_STATUS_FAILED, models["broken"].status)

    def test_predicts_raw_pixels_with_labels(self):
        response = self.stub.Predict(inference_pb2.PredictRequest(model="cnn", images=[pixels()], top_k=3),
                                     timeout=30)
        self.assertEqual(1, len(response.results))
        classes = response.results[0].classes
        self.assertEqual(3, len(classes))
        self.assertTrue(all(c.label for c in classes))
        self.assertGreaterEqual(classes[0].score, classes[1].score)
        self.assertGreater(response.results[0].timings.inference_us, 0)

    def test_png_matches_its_raw_pixels(self):
        import io
        from PIL import Image
        buffer = io.BytesIO()
        Image.frombytes("RGB", (40, 30), gradient(40, 30)).save(buffer, format="PNG")
        png = image_pb2.Image(encoded=image_pb2.EncodedImage(data=buffer.getvalue()))
        both = self.stub.Predict(inference_pb2.PredictRequest(model="cnn", images=[png, pixels()]), timeout=30)
        self.assertEqual([c.index for c in both.results[0].classes], [c.index for c in both.results[1].classes])
        for a, b in zip(both.results[0].classes, both.results[1].classes):
            self.assertAlmostEqual(a.score, b.score, places=5)

    def test_unknown_model_is_not_found(self):
        with self.assertRaises(grpc.RpcError) as error:
            self.stub.Predict(inference_pb2.PredictRequest(model="nope", images=[pixels()]), timeout=30)
        self.assertEqual(grpc.StatusCode.NOT_FOUND, error.exception.code())
        self.assertIn("nope", error.exception.details())

    def test_bad_pixels_are_invalid_argument_naming_the_field(self):
        bad = image_pb2.Image(pixels=image_pb2.RawPixels(data=b"\0" * 10, width=4, height=4,
                                                         format=image_pb2.PIXEL_FORMAT_RGB))
        with self.assertRaises(grpc.RpcError) as error:
            self.stub.Predict(inference_pb2.PredictRequest(model="cnn", images=[bad]), timeout=30)
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, error.exception.code())
        self.assertIn("images[0].pixels.data", error.exception.details())

    def test_streams_frames_and_gets_one_result_each_in_order(self):
        def requests():
            yield inference_pb2.StreamPredictRequest(options=inference_pb2.StreamOptions(model="cnn", top_k=1))
            for frame_id in range(100):
                yield inference_pb2.StreamPredictRequest(frame=inference_pb2.Frame(frame_id=frame_id, image=pixels()))

        responses = list(self.stub.StreamPredict(requests(), timeout=60))
        self.assertEqual(list(range(100)), [r.frame_id for r in responses])
        self.assertTrue(all(r.HasField("result") for r in responses))


if __name__ == "__main__":
    unittest.main()
