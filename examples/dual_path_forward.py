"""Run the dual-path network on an image with a rectangular hole and save what each path produced.

The network has random weights until trained checkpoints are published, so the pictures show
the data flow (input, hole, I_s, I_g, composited output), not a good inpainting.

    python examples/dual_path_forward.py [IMAGE] [--preset tiny] [--output paths.png]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from dpinpaint import DualPathNet, get_preset


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    return ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?", help="an image file (default: a synthetic gradient)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--output", default="paths.png")
    args = parser.parse_args()

    config = get_preset(args.preset)
    r = config.resolution
    if args.image:
        pil = Image.open(args.image).convert("RGB").resize((r, r), Image.Resampling.LANCZOS)
        image = torch.from_numpy(np.array(pil)).permute(2, 0, 1).float() / 127.5 - 1
    else:
        ramp = torch.linspace(-1, 1, r)
        image = torch.stack([ramp.expand(r, r), ramp.expand(r, r).t(), -ramp.expand(r, r)])
    known = torch.ones(1, 1, r, r)
    known[..., r // 4 : 3 * r // 4, r // 3 : 2 * r // 3] = 0  # the paper's mask: 0 = missing

    torch.manual_seed(0)
    net = DualPathNet(config).eval()
    with torch.no_grad():
        out = net(image[None], known)
    panels = [image * known[0], out.inversion[0], out.generated[0], out.output[0]]
    Image.fromarray(np.concatenate([to_uint8(p) for p in panels], axis=1)).save(args.output)
    print(f"wrote {args.output}: masked input | I_s (inversion path) | I_g (feed-forward path) | output")
    print(f"deformable fusion offsets at {sorted(out.offsets)}; W+ latent {tuple(out.latent.shape)}")


if __name__ == "__main__":
    main()
