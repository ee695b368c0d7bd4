"""Time of importing a config-f 256 StyleGAN2 from a rosinality checkpoint (not a test).

Writes a rosinality ``train.py``-style ``.pt`` (g_ema, d, latent_avg, args, optimiser states;
random weights, the layout of the real files) with the tests' fixture builder, then times
``load_stylegan2``, ``convert_stylegan2`` without and with the sample grid, and re-loading the
converted folder; medians of ``--repeats``.

Run from the repository root:  python benchmarks/bench_convert.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import median_seconds  # noqa: E402
from convert_fixtures import write_rosinality  # noqa: E402

from dpinpaint import StyleGAN2Config  # noqa: E402
from dpinpaint.convert import convert_stylegan2, load_stylegan2  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = StyleGAN2Config.config_f(256, 2)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "550000.pt"
        write_rosinality(src, config)
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
