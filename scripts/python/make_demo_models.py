"""Trains the demo models in seconds and writes them as a Fovea model repository.

    /usr/bin/python3 scripts/python/make_demo_models.py REPOSITORY UPDATE_DIR

The task: recognise the shape in a frame (circle, square, triangle, cross): a bright filled shape on a dark plain
background, the scene fovea-client's `stream --synthetic` draws. Training images are drawn the same way at 160x120,
so the models see what the demo streams. One model of each family, each a folder with config.pbtxt, labels.txt and
1/model.pt (version 1):
  REPOSITORY/shapes-cnn     a small CNN,
  REPOSITORY/shapes-vit     a small torchvision VisionTransformer (16x16 patches: a one-layer "patchify" stem),
  REPOSITORY/shapes-hybrid  the same transformer encoder fed by a convolutional stem (torchvision's conv_stem_configs,
                            after "Early Convolutions Help Transformers See Better": four strided 3x3 convolutions
                            where the ViT has one 16x16 one): its 4x4 feature map is the 16 tokens,
and REPOSITORY/families.txt (model, family, parameters, held-out accuracy) for the demo's table. The CNN's next version,
trained two epochs further, goes to UPDATE_DIR/shapes-cnn/2/model.pt, for the demo to drop into the repository while
the server runs.
"""
import math
import os
import random
import sys
import time

import torch
import torch.nn as nn
from PIL import Image, ImageDraw
from torchvision.models.vision_transformer import ConvStemConfig, VisionTransformer

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
    """Trains the model in place; returns its accuracy on the test set."""
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


def save(model: nn.Module, file: str) -> None:
    os.makedirs(os.path.dirname(file), exist_ok=True)
    torch.jit.script(model.eval()).save(file)


def save_model(model: nn.Module, folder: str, description: str) -> None:
    """Writes the model as version 1 of a Fovea model folder."""
    save(model, os.path.join(folder, "1", "model.pt"))
    with open(os.path.join(folder, "config.pbtxt"), "w") as f:
        f.write(CONFIG.format(description=description, size=INPUT, mean=MEAN, std=STD))
    with open(os.path.join(folder, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def main(repository: str, update_dir: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.time()
    train_set = dataset(2400, seed=1)
    test_set = dataset(400, seed=2)
    # The ViT and the hybrid share the encoder (2 layers, 4 heads, width 64, 16 tokens and a class token); only the stem
    # that makes the tokens differs.
    encoder = dict(image_size=INPUT, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=len(LABELS))
    # The hybrid's stem: four strided 3x3 convolutions (each with batch norm and ReLU) where the ViT has one 16x16.
    conv_stem = [ConvStemConfig(channels, 3, 2) for channels in (16, 32, 64, 64)]
    # Each model is made just before it trains, so the random stream (initial weights, batch order) each one sees
    # does not depend on the models after it.
    families = [
        ("shapes-cnn", "CNN", "A small CNN", ShapesCnn, 6, 3e-3),
        ("shapes-vit", "ViT", "A small Vision Transformer", lambda: VisionTransformer(patch_size=16, **encoder), 12,
         2e-3),
        ("shapes-hybrid", "hybrid", "A small hybrid: a convolutional stem whose 4x4 feature map is a transformer's"
         " tokens", lambda: VisionTransformer(patch_size=16, conv_stem_configs=conv_stem, **encoder), 8, 1e-3),
    ]
    trained = {}
    os.makedirs(repository, exist_ok=True)
    with open(os.path.join(repository, "families.txt"), "w") as table:
        table.write("# model\tfamily\tparameters\theld-out accuracy\n")
        for name, family, description, make, epochs, lr in families:
            model = trained[name] = make()
            accuracy = train(model, train_set, test_set, epochs, lr)
            save_model(model, os.path.join(repository, name), f"{description}; held-out accuracy {accuracy:.3f}.")
            table.write(f"{name}\t{family}\t{parameters(model)}\t{accuracy:.3f}\n")
            print(f"make_demo_models: {name} ({family}, {parameters(model):,} parameters) held-out accuracy "
                  f"{accuracy:.3f} ({time.time() - started:.0f} s)", flush=True)
    # The live update's new version: the same CNN trained two epochs further, at a lower rate.
    accuracy = train(trained["shapes-cnn"], train_set, test_set, 2, 1e-3)
    save(trained["shapes-cnn"], os.path.join(update_dir, "shapes-cnn", "2", "model.pt"))
    print(f"make_demo_models: shapes-cnn version 2 held-out accuracy {accuracy:.3f} ({time.time() - started:.0f} s)",
          flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
