"""Time of importing a config-f 256 StyleGAN2 from a rosinality checkpoint (not a test).

Writes a rosinality ``train.py``-style ``.pt`` (g, g_ema, d, latent_avg, args, Adam states of
both networks: the layout and size of the real files, without their few constant FIR-kernel
buffers) from random-weight dpinpaint networks, which use rosinality's key names, then times
``load_stylegan2``, ``convert_stylegan2`` without and with the sample grid, and re-loading the
converted folder; medians of ``--repeats``.

Run from the repository root:  python benchmarks/bench_convert.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import median_seconds

from dpinpaint import StyleGAN2Config
from dpinpaint.convert import convert_stylegan2, load_stylegan2
from dpinpaint.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator


def write_rosinality_checkpoint(path: Path, config: StyleGAN2Config) -> Path:
    """A ``.pt`` laid out as rosinality's ``train.py`` saves it, with random weights (seed 0)."""
    torch.manual_seed(0)
    g_state = {k: v for k, v in StyleGAN2Generator(config).state_dict().items() if k != "w_avg"}
    d_state = StyleGAN2Discriminator(config).state_dict()
    optimisers = {}
    for name, state in (("g_optim", g_state), ("d_optim", d_state)):
        params = [torch.nn.Parameter(v.clone()) for k, v in state.items() if not k.startswith("noises")]
        adam = torch.optim.Adam(params, lr=0.002, betas=(0.0, 0.99))
        for p in params:
            p.grad = torch.ones_like(p)
        adam.step()  # fills exp_avg / exp_avg_sq, as in a trained checkpoint
        optimisers[name] = adam.state_dict()
    args = argparse.Namespace(size=config.resolution, latent=config.w_dim, n_mlp=config.n_mlp, channel_multiplier=2)
    latent_avg = torch.randn(config.w_dim)
    torch.save(
        {"g": g_state, "d": d_state, "g_ema": g_state, **optimisers, "args": args, "latent_avg": latent_avg}, path
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = StyleGAN2Config.config_f(256, 2)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "550000.pt"
        write_rosinality_checkpoint(src, config)
        print(f"rosinality checkpoint: {src.stat().st_size / 1e6:.0f} MB")
        load, _ = median_seconds(lambda: load_stylegan2(src), args.repeats)
        bare, _ = median_seconds(lambda: convert_stylegan2(src, Path(tmp) / "out", samples=0), args.repeats)
        grid, _ = median_seconds(lambda: convert_stylegan2(src, Path(tmp) / "out", samples=8), 1, warmup=0)
        reload, _ = median_seconds(lambda: load_stylegan2(Path(tmp) / "out"), args.repeats)
        g, d, _ = load_stylegan2(Path(tmp) / "out")
        print(f"load_stylegan2(.pt) {load:.2f} s; convert without samples {bare:.2f} s; with 8 samples {grid:.2f} s; "
              f"reload the converted folder {reload:.2f} s")  # fmt: skip
        print(f"parameters: G {sum(p.numel() for p in g.parameters()):,}, D {sum(p.numel() for p in d.parameters()):,}")


if __name__ == "__main__":
    main()
