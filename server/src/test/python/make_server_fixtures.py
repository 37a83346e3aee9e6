"""Writes the model repository the server tests serve (server/src/test/resources/repository).

    /usr/bin/python3 server/src/test/python/make_server_fixtures.py server/src/test/resources/repository

Models (random weights, fixed seeds):
  cnn/     a tiny CNN classifier for 3x32x32 RGB images, ten labels;
  batched/ the same CNN with dynamic batching (requests arriving within 300 ms share a batch);
  gray/    the same architecture for 1x32x32 grayscale input, BGR-free;
  slow/    a classifier that burns ~0.1 s of matrix work per call, for queueing, deadline and latest-only tests;
  raw/     TASK_RAW: takes float32 [batch, 4] tensors and returns (x * 2, x.sum(1));
  triton_cnn/  the tiny CNN in Triton's layout (config.pbtxt with Triton's ModelConfig, 1/model.pt): float32
           [batch, 3, 32, 32] tensors in, logits out; its config sets one field Fovea does not apply (optimization);
  broken/  a model.pt that is not TorchScript, to prove one bad model does not stop the others.
Outside the repository, ../models/identity.pt returns its input tensor itself (outputs that alias inputs), and
../models/allocates.pt allocates as much as its input says (out-of-memory tests on a GPU).
"""
import os
import sys
from typing import Tuple

import torch
import torch.nn as nn


class TinyCnn(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(256, 256) / 16)
        self.classifier = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        work = torch.eye(256)
        for _ in range(60):
            work = torch.tanh(work @ self.weight)
        return self.classifier(x.mean(dim=(2, 3))) + work.mean() * 0


class Raw(nn.Module):
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return x * 2, x.sum(1)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Allocates(nn.Module):
    """Allocates float32 zeros [a, b] on the input's device, a and b its first two elements: out-of-memory tests."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = x.reshape(-1)
        return torch.zeros(int(sizes[0].item()), int(sizes[1].item()), device=x.device).unsqueeze(0)


def write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def main(root: str) -> None:
    torch.manual_seed(7)
    labels = "\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])

    def model(name: str, module: nn.Module, config: str, label_text: str = "") -> None:
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        torch.jit.script(module.eval()).save(os.path.join(folder, "model.pt"))
        write(os.path.join(folder, "config.pbtxt"), config)
        if label_text:
            write(os.path.join(folder, "labels.txt"), label_text + "\n")

    model("cnn", TinyCnn(3), """# A tiny CNN for 32x32 RGB images.
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
""", labels)
    cnn = TinyCnn(3)
    model("batched", cnn, """task: TASK_CLASSIFICATION
preprocessing { crop_width: 32 crop_height: 32 }
max_batch_size: 8
dynamic_batching { max_queue_delay_us: 300000 preferred_batch_sizes: [8] }
instances: 1
""", labels)
    model("gray", TinyCnn(1), """task: TASK_CLASSIFICATION
preprocessing {
  crop_width: 32
  crop_height: 32
  mean: [0.5]
  std: [0.25]
  channel_order: CHANNEL_ORDER_GRAY
}
""", labels)
    model("slow", Slow(), """task: TASK_CLASSIFICATION
preprocessing { crop_width: 16 crop_height: 16 }
""", "circle\nsquare\ntriangle\ncross")
    model("raw", Raw(), """task: TASK_RAW
preprocessing { crop_width: 4 crop_height: 1 channel_order: CHANNEL_ORDER_GRAY }
""")
    triton = os.path.join(root, "triton_cnn")
    os.makedirs(os.path.join(triton, "1"), exist_ok=True)
    torch.jit.script(TinyCnn(3).eval()).save(os.path.join(triton, "1", "model.pt"))
    write(os.path.join(triton, "config.pbtxt"), """name: "triton_cnn"
platform: "pytorch_libtorch"
max_batch_size: 4
input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3, 32, 32 ] } ]
output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "labels.txt" } ]
dynamic_batching { max_queue_delay_microseconds: 1000 }
instance_group [ { count: 1 kind: KIND_CPU } ]
optimization { input_pinned_memory { enable: true } }
""")
    write(os.path.join(triton, "labels.txt"), labels + "\n")
    extra = os.path.join(os.path.dirname(os.path.abspath(root)), "models")
    os.makedirs(extra, exist_ok=True)
    torch.jit.script(Identity()).save(os.path.join(extra, "identity.pt"))
    torch.jit.script(Allocates()).save(os.path.join(extra, "allocates.pt"))
    broken = os.path.join(root, "broken")
    os.makedirs(broken, exist_ok=True)
    write(os.path.join(broken, "model.pt"), "this is not a TorchScript archive\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
