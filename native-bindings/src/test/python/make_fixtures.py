"""Writes the TorchScript fixtures and reference outputs that the native-bindings tests compare against.

Run with Debian's interpreter (python3-torch, python3-torchvision):

    /usr/bin/python3 native-bindings/src/test/python/make_fixtures.py native-bindings/src/test/resources/fixtures

Every tensor file is raw little-endian data, C order; fixtures.properties names each file's dtype and shape. The
outputs are deterministic (fixed seeds), so rerunning only changes files when torch's numerics change.
"""
import os
import struct
import sys
import zlib
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from skimage import data as photos
from torchvision import transforms
from torchvision.models.vision_transformer import VisionTransformer

IMAGE = (3, 32, 32)
CLASSES = 10


class TinyCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(16, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class NestedOutputs(nn.Module):
    """Returns (x * 2, [per-image sum, global mean]): three tensors once flattened."""

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        return x * 2, [x.sum(dim=(1, 2, 3)), x.mean()]


class RaisesOnNegativeInput(nn.Module):
    """Raises at run time when any input element is negative, else returns the input plus one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x < 0).any()):
            raise RuntimeError("fovea fixture: negative input")
        return x + 1


class DictOutput(nn.Module):
    """An output that is not a tensor or a tuple/list of tensors."""

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"logits": x}


class Allocates(nn.Module):
    """Allocates float32 zeros [a, b] on the input's device, a and b its first two elements (each below 2^31), as
    [1, a, b]: out-of-memory tests."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = x.reshape(-1)
        return torch.zeros(int(sizes[0].item()), int(sizes[1].item()), device=x.device).unsqueeze(0)


class GathersOutOfRange(nn.Module):
    """Gathers from an index past the end: a device-side assert on CUDA, which leaves the CUDA context unusable."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = torch.full_like(x, 1 << 20, dtype=torch.long)
        return torch.gather(x, 1, index)


class ScaleUint8(nn.Module):
    """uint8 NHWC pixels to float NCHW in [0, 1]: a model that takes the frame's bytes as they are."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).float() / 255.0


def tiny_vit() -> nn.Module:
    return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                             num_classes=CLASSES)


def write_png16_rgb(path: str, pixels: np.ndarray) -> None:
    """A 16-bit RGB PNG (PIL cannot write one): signature, IHDR, one IDAT of unfiltered rows, IEND."""
    height, width, _ = pixels.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    manifest = []

    def write_tensor(name: str, tensor: torch.Tensor) -> None:
        tensor = tensor.contiguous()
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(tensor.numpy().tobytes())
        shape = ",".join(str(s) for s in tensor.shape)
        manifest.append(f"{name}.dtype={str(tensor.dtype).replace('torch.', '')}")
        manifest.append(f"{name}.shape={shape}")

    def save(name: str, module: nn.Module) -> torch.jit.ScriptModule:
        scripted = torch.jit.script(module.eval())
        scripted.save(os.path.join(out_dir, name + ".pt"))
        return scripted

    torch.manual_seed(20261126)
    for name, module in (("tiny_cnn", TinyCnn()), ("tiny_vit", tiny_vit())):
        scripted = save(name, module)
        for batch in (1, 4):
            x = torch.rand(batch, *IMAGE)
            with torch.no_grad():
                y = scripted(x)
            write_tensor(f"{name}.input_b{batch}.bin", x)
            write_tensor(f"{name}.output_b{batch}.bin", y)

    save("nested_outputs", NestedOutputs())
    save("raises_on_negative", RaisesOnNegativeInput())
    save("dict_output", DictOutput())
    save("scale_uint8", ScaleUint8())
    save("allocates", Allocates())
    save("gathers_out_of_range", GathersOutOfRange())

    # Real photos, and what torchvision's Resize(256) -> CenterCrop(224) makes of them when PIL opens the file: the
    # uint8 crop that ToTensor() and Normalize() then scale exactly.
    resize_crop = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    for name, pixels, fmt in (("cat.png", photos.chelsea()[30:270, 40:400], "PNG"),
                              ("coffee.jpg", photos.coffee(), "JPEG")):
        path = os.path.join(out_dir, name)
        Image.fromarray(pixels).save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        with Image.open(path) as image:
            reference = np.asarray(resize_crop(image.convert("RGB")))
        write_tensor(name + ".resize256_crop224.bin", torch.from_numpy(reference.copy()))
        manifest.append(f"{name}.resize256_crop224.bin.holds=PIL's uint8 HWC image after Resize(256) and "
                        "CenterCrop(224), before ToTensor")

    # Small files in the layouts a decoder must flatten the way PIL's convert('RGB') does (alpha dropped, palette
    # expanded, gray copied to three channels, 16 bits to 8), each with that RGB image as its reference.
    rng = np.random.default_rng(20261126)
    rgb = photos.astronaut()[40:88, 180:244]
    gray = photos.camera()[100:148, 200:264]
    alpha = rng.integers(0, 256, gray.shape, dtype=np.uint8)
    alpha[0, :8] = 0
    layouts = {
        "rgba.png": lambda path: Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path),
        "gray_alpha.png": lambda path: Image.fromarray(np.dstack([gray, alpha]), "LA").save(path),
        "palette.png": lambda path: Image.fromarray(rgb).quantize(32).save(path, transparency=bytes(range(0, 256, 8))),
        "rgb16.png": lambda path: write_png16_rgb(path, rgb.astype(np.uint16) * 256
                                                  + rng.integers(0, 256, rgb.shape, dtype=np.uint16)),
        "gray.png": lambda path: Image.fromarray(gray).save(path),
        "gray.jpg": lambda path: Image.fromarray(gray).save(path, quality=90),
    }
    for name, write in layouts.items():
        path = os.path.join(out_dir, name)
        write(path)
        with Image.open(path) as image:
            write_tensor(name + ".rgb.bin", torch.from_numpy(np.asarray(image.convert("RGB")).copy()))
        manifest.append(f"{name}.rgb.bin.holds=PIL's Image.open(file).convert('RGB'), uint8 HWC")

    with open(os.path.join(out_dir, "fixtures.properties"), "w") as f:
        f.write(f"# Written by make_fixtures.py with torch {torch.__version__}; raw little-endian tensors.\n")
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUTPUT_DIR")
    main(sys.argv[1])
