"""Tests of benchmarks/python/python_server.py, the Python baseline of docs/benchmarks.md: a tiny TorchScript classifier
with random weights in a temporary model repository, the server started as a subprocess on a free port, and its
fovea.v1 API called with grpc_tools stubs generated from proto/.

    /usr/bin/python3 -m unittest benchmarks/python/test_python_server.py
"""
import io
import select
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import grpc
import torch
from PIL import Image as PILImage

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
CONFIG = """# A tiny CNN for 32x32 RGB images.
task: TASK_CLASSIFICATION
preprocessing {
  resize_shorter_side: 36
  crop_width: 32
  crop_height: 32
  mean: [0.485, 0.456, 0.406]
  std: [0.229, 0.224, 0.225]
  channel_order: CHANNEL_ORDER_RGB
}
device: "cpu"
max_batch_size: 8
"""
LABELS = [f"class {i}" for i in range(10)]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def picture(height=36, width=36):
    """Seeded random RGB pixels, uint8 [H, W, 3]."""
    return torch.randint(0, 256, (height, width, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(7))


class PythonServerTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.TemporaryDirectory(prefix="python-server-test-")
        work = Path(cls.work.name)
        stubs = work / "stubs"
        stubs.mkdir()
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(REPO_ROOT / "proto"),
                        f"--python_out={stubs}", f"--grpc_python_out={stubs}",
                        *sorted(str(p) for p in (REPO_ROOT / "proto/fovea/v1").glob("*.proto"))], check=True)
        (stubs / "fovea/__init__.py").touch()
        (stubs / "fovea/v1/__init__.py").touch()
        sys.path.insert(0, str(stubs))
        global image_pb2, inference_pb2, inference_pb2_grpc, model_pb2
        from fovea.v1 import image_pb2, inference_pb2, inference_pb2_grpc, model_pb2

        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10)).eval()
        cls.model = torch.jit.script(model)
        folder = work / "repository" / "tiny"
        folder.mkdir(parents=True)
        cls.model.save(str(folder / "model.pt"))
        (folder / "config.pbtxt").write_text(CONFIG)
        (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")

        cls.log = open(work / "server.log", "w+")
        cls.server = subprocess.Popen(
            [sys.executable, str(HERE / "python_server.py"), "--model-repository", str(work / "repository"),
             "--model", "tiny", "--host", "127.0.0.1", "--port", "0", "--threads", "1", "--workers", "4",
             "--stubs", str(stubs)], stdout=subprocess.PIPE, stderr=cls.log, text=True)
        line = ""
        deadline = time.monotonic() + 60
        while not line.startswith("python-server: serving") and time.monotonic() < deadline:
            if select.select([cls.server.stdout], [], [], deadline - time.monotonic())[0]:
                line = cls.server.stdout.readline()
                if not line:
                    break
        if not line.startswith("python-server: serving tiny on 127.0.0.1:"):
            cls.server.kill()
            cls.log.seek(0)
            raise RuntimeError("python_server.py did not start: " + line + cls.log.read())
        cls.channel = grpc.insecure_channel(line.split()[-1])
        cls.stub = inference_pb2_grpc.InferenceServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.send_signal(signal.SIGTERM)
        code = cls.server.wait(timeout=15)
        cls.log.close()
        cls.work.cleanup()
        if code != 0:
            raise RuntimeError(f"python_server.py exited with {code} on SIGTERM")

    def expected(self, hwc, k=3):
        """The model run here on the preprocessed 36x36 picture: no resize, center crop 32 (offset 2), mean/std."""
        x = (hwc.permute(2, 0, 1).float()[:, 2:34, 2:34] / 255 - MEAN) / STD
        with torch.no_grad():
            logits = self.model(x.unsqueeze(0))[0]
        scores, indices = torch.softmax(logits, dim=0).topk(k)
        return logits, scores.tolist(), indices.tolist()

    def assert_matches(self, result, scores, indices):
        self.assertEqual(indices, [c.index for c in result.classes])
        self.assertEqual([LABELS[i] for i in indices], [c.label for c in result.classes])
        for score, c in zip(scores, result.classes):
            self.assertAlmostEqual(score, c.score, places=5)

    def test_predict_matches_the_model_run_directly(self):
        hwc = picture()
        image = image_pb2.Image(pixels=image_pb2.RawPixels(data=hwc.numpy().tobytes(), width=36, height=36,
                                                           format=image_pb2.PIXEL_FORMAT_RGB))
        response = self.stub.Predict(inference_pb2.PredictRequest(model="tiny", images=[image], top_k=3,
                                                                  include_output_tensors=True), timeout=30)
        logits, scores, indices = self.expected(hwc)
        self.assertEqual("tiny", response.model)
        result = response.results[0]
        self.assert_matches(result, scores, indices)
        self.assertEqual([10], list(result.outputs[0].shape))
        self.assertEqual(image_pb2.DATA_TYPE_FLOAT32, result.outputs[0].dtype)
        returned = torch.frombuffer(bytearray(result.outputs[0].data), dtype=torch.float32)
        self.assertTrue(torch.allclose(logits, returned, atol=1e-5))
        self.assertEqual(1, result.timings.batch_size)
        self.assertEqual(0, result.timings.queue_us)
        self.assertGreater(result.timings.inference_us, 0)

    def test_bgr_padded_rows_and_png_give_the_same_result_in_one_batch(self):
        hwc = picture()
        bgr = image_pb2.RawPixels(data=hwc.flip(2).numpy().tobytes(), width=36, height=36,
                                  format=image_pb2.PIXEL_FORMAT_BGR)
        padded_rows = torch.cat([hwc.reshape(36, 108), torch.zeros(36, 4, dtype=torch.uint8)], dim=1)
        padded = image_pb2.RawPixels(data=padded_rows.numpy().tobytes()[:-4], width=36, height=36, row_stride=112,
                                     format=image_pb2.PIXEL_FORMAT_RGB)
        png = io.BytesIO()
        PILImage.fromarray(hwc.numpy()).save(png, format="PNG")
        images = [image_pb2.Image(pixels=bgr), image_pb2.Image(pixels=padded),
                  image_pb2.Image(encoded=image_pb2.EncodedImage(data=png.getvalue()))]
        response = self.stub.Predict(inference_pb2.PredictRequest(model="tiny", images=images, top_k=3), timeout=30)
        _, scores, indices = self.expected(hwc)
        self.assertEqual(3, len(response.results))
        for result in response.results:
            self.assert_matches(result, scores, indices)
            self.assertEqual(3, result.timings.batch_size)

    def test_stream_echoes_frames_and_answers_a_bad_frame_with_an_error(self):
        hwc = picture()
        good = image_pb2.Image(pixels=image_pb2.RawPixels(data=hwc.numpy().tobytes(), width=36, height=36,
                                                          format=image_pb2.PIXEL_FORMAT_RGB))
        bad = image_pb2.Image(pixels=image_pb2.RawPixels(data=b"\0" * 10, width=36, height=36,
                                                         format=image_pb2.PIXEL_FORMAT_RGB))
        requests = [inference_pb2.StreamPredictRequest(options=inference_pb2.StreamOptions(model="tiny", top_k=3))]
        for frame_id, image in ((10, good), (11, bad), (12, good)):
            frame = inference_pb2.Frame(frame_id=frame_id, image=image)
            frame.capture_time.FromNanoseconds(1_700_000_000_000_000_000 + frame_id)
            requests.append(inference_pb2.StreamPredictRequest(frame=frame))
        responses = list(self.stub.StreamPredict(iter(requests), timeout=30))
        self.assertEqual([10, 11, 12], [r.frame_id for r in responses])
        self.assertEqual([1_700_000_000_000_000_000 + i for i in (10, 11, 12)],
                         [r.capture_time.ToNanoseconds() for r in responses])
        self.assertEqual(["result", "error", "result"], [r.WhichOneof("outcome") for r in responses])
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT.value[0], responses[1].error.code)
        self.assertIn("frame.image.pixels.data", responses[1].error.message)
        _, scores, indices = self.expected(hwc)
        self.assert_matches(responses[0].result, scores, indices)
        self.assert_matches(responses[2].result, scores, indices)

    def test_get_model_and_list_models_describe_it(self):
        info = self.stub.GetModel(inference_pb2.GetModelRequest(name="tiny"), timeout=30)
        self.assertEqual("tiny", info.name)
        self.assertEqual(model_pb2.MODEL_STATUS_READY, info.status)
        self.assertEqual("cpu", info.device)
        self.assertEqual(LABELS, list(info.labels))
        self.assertEqual(32, info.config.preprocessing.crop_width)
        self.assertEqual(36, info.config.preprocessing.resize_shorter_side)
        self.assertEqual(8, info.config.max_batch_size)
        self.assertEqual(1, info.config.instances)
        self.assertEqual([-1, 3, 32, 32], list(info.input.shape))
        self.assertEqual([("output_0", "float32", [-1, 10])],
                         [(o.name, o.dtype, list(o.shape)) for o in info.outputs])
        listed = self.stub.ListModels(inference_pb2.ListModelsRequest(), timeout=30)
        self.assertEqual([info], list(listed.models))

    def test_unknown_model_is_not_found(self):
        for call in (lambda: self.stub.GetModel(inference_pb2.GetModelRequest(name="nope"), timeout=30),
                     lambda: self.stub.Predict(inference_pb2.PredictRequest(model="nope"), timeout=30)):
            with self.assertRaises(grpc.RpcError) as error:
                call()
            self.assertEqual(grpc.StatusCode.NOT_FOUND, error.exception.code())
            self.assertIn("nope", error.exception.details())

    def test_bad_pixels_are_invalid_argument_naming_the_field(self):
        bad = image_pb2.Image(pixels=image_pb2.RawPixels(data=b"\0" * 48, width=4, height=4, row_stride=8,
                                                         format=image_pb2.PIXEL_FORMAT_RGB))
        with self.assertRaises(grpc.RpcError) as error:
            self.stub.Predict(inference_pb2.PredictRequest(model="tiny", images=[bad]), timeout=30)
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, error.exception.code())
        self.assertIn("images[0].pixels.row_stride", error.exception.details())


if __name__ == "__main__":
    unittest.main()
