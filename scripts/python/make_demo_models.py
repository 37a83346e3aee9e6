"""Trains the demo models in seconds and writes them as a Fovea model repository.

    /usr/bin/python3 scripts/python/make_demo_models.py OUTPUT_DIR

The task: recognise the shape in a frame (circle, square, triangle, cross): a bright filled shape on a dark plain
background, the scene fovea-client's `stream --synthetic` draws. Training images are drawn the same way at 160x120,
so the models see what the demo streams. Writes OUTPUT_DIR/shapes-cnn and OUTPUT_DIR/shapes-vit (a small CNN and a
small torchvision VisionTransformer), each with model.pt, config.pbtxt and labels.txt.
"""
import math
import os
import random
import sys
import time

import torch
import torch.nn as nn
from PIL import Image, ImageDraw
from torchvision.models.vision_transformer import VisionTransformer

LABELS = ["circle", "square", "triangle", "cross"]
FRAME = (160, 120)
INPUT = 64
MEAN = 0.5
STD = 0.25


def draw(label: str, rng: random.Random) -> Image.Image:
    width, height = FRAME
    background = tuple(rng.randint(0, 90) for _ in range(3))
    colour = [rng.randint(120, 255) for _ in range(3)]
    colour[rng.randrange(3)] = 255
    image = Image.new("RGB", FRAME, background)
    d = ImageDraw.Draw(image)
    size = rng.uniform(0.35, 0.65) * height
    cx = rng.uniform(size / 2, width - size / 2)
    cy = rng.uniform(size / 2, height - size / 2)
    half = size / 2
    if label == "circle":
        d.ellipse([cx - half, cy - half, cx + half, cy + half], fill=tuple(colour))
    elif label == "square":
        d.rectangle([cx - half, cy - half, cx + half, cy + half], fill=tuple(colour))
    elif label == "triangle":
        turn = rng.choice([0, math.pi / 2, math.pi, 3 * math.pi / 2]) + rng.uniform(-0.2, 0.2)
        points = [(cx + half * math.sin(turn + k * 2 * math.pi / 3), cy - half * math.cos(turn + k * 2 * math.pi / 3))
                  for k in range(3)]
        d.polygon(points, fill=tuple(colour))
    else:
        bar = size / 3
        d.rectangle([cx - half, cy - bar / 2, cx + half, cy + bar / 2], fill=tuple(colour))
        d.rectangle([cx - bar / 2, cy - half, cx + bar / 2, cy + half], fill=tuple(colour))
    return image


def to_tensor(image: Image.Image) -> torch.Tensor:
    # The server's preprocessing for these models: resize straight to 64x64 (bilinear, antialiased), [0,1], normalize.
    small = image.resize((INPUT, INPUT), Image.BILINEAR)
    pixels = torch.frombuffer(bytearray(small.tobytes()), dtype=torch.uint8).reshape(INPUT, INPUT, 3)
    return (pixels.permute(2, 0, 1).float() / 255 - MEAN) / STD


def dataset(count: int, seed: int):
    rng = random.Random(seed)
    xs, ys = [], []
    for i in range(count):
        label = i % len(LABELS)
        xs.append(to_tensor(draw(LABELS[label], rng)))
        ys.append(label)
    return torch.stack(xs), torch.tensor(ys)


class ShapesCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(64, len(LABELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def train(model: nn.Module, train_set, test_set, epochs: int, lr: float) -> float:
    xs, ys = train_set
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xs))
        for start in range(0, len(xs), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss_fn(model(xs[batch]), ys[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return (model(test_set[0]).argmax(1) == test_set[1]).float().mean().item()


CONFIG = """# {description}
task: TASK_CLASSIFICATION
preprocessing {{
  crop_width: {size}
  crop_height: {size}
  mean: [{mean}, {mean}, {mean}]
  std: [{std}, {std}, {std}]
  channel_order: CHANNEL_ORDER_RGB
}}
device: "cpu"
max_batch_size: 16
"""


def save(model: nn.Module, folder: str, description: str) -> None:
    os.makedirs(folder, exist_ok=True)
    torch.jit.script(model.eval()).save(os.path.join(folder, "model.pt"))
    with open(os.path.join(folder, "config.pbtxt"), "w") as f:
        f.write(CONFIG.format(description=description, size=INPUT, mean=MEAN, std=STD))
    with open(os.path.join(folder, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")


def main(out_dir: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.time()
    train_set = dataset(2400, seed=1)
    test_set = dataset(400, seed=2)
    cnn = ShapesCnn()
    accuracy = train(cnn, train_set, test_set, epochs=6, lr=3e-3)
    save(cnn, os.path.join(out_dir, "shapes-cnn"), f"A small CNN; held-out accuracy {accuracy:.3f}.")
    print(f"make_demo_models: shapes-cnn held-out accuracy {accuracy:.3f} ({time.time() - started:.0f} s)")
    vit = VisionTransformer(image_size=INPUT, patch_size=16, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128,
                            num_classes=len(LABELS))
    accuracy = train(vit, train_set, test_set, epochs=12, lr=2e-3)
    save(vit, os.path.join(out_dir, "shapes-vit"), f"A small Vision Transformer; held-out accuracy {accuracy:.3f}.")
    print(f"make_demo_models: shapes-vit held-out accuracy {accuracy:.3f} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
