"""Writes the TorchScript models the benchmarks run: torchvision architectures with random weights (no download).

    /usr/bin/python3 benchmarks/python/make_models.py OUTPUT_DIR [NAME...]

NAME is one of resnet50, mobilenet_v3_small, vit_b_16 (default: all). Each becomes OUTPUT_DIR/NAME.pt, scripted in
eval mode. Existing files are kept.
"""
import os
import sys

import torch
import torchvision

MODELS = {
    "resnet50": torchvision.models.resnet50,
    "mobilenet_v3_small": torchvision.models.mobilenet_v3_small,
    "vit_b_16": torchvision.models.vit_b_16,
}


def main(out_dir, names):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    for name in names or MODELS:
        path = os.path.join(out_dir, name + ".pt")
        if os.path.exists(path):
            continue
        model = MODELS[name](weights=None).eval()
        torch.jit.script(model).save(path)
        print(f"make_models: wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
