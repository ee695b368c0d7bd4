"""``dpinpaint train``: a training config (or preset) and data in, a run folder out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..config import ModelConfig
from ..errors import InvalidInputError
from .common import non_negative_int, positive_int


def cmd_train(args: argparse.Namespace) -> int:
    from ..train.config import TrainConfig
    from ..train.trainer import Trainer

    run_dir = Path(args.output)
    if args.resume and args.config is None and args.preset is None:
        config = TrainConfig.from_json(run_dir / "config.json")
    elif args.config is not None:
        config = TrainConfig.from_json(args.config)
    elif args.preset is not None:
        config = TrainConfig.from_preset(args.preset)
        if args.stylegan2 is not None and config.model.uses_inversion:
            config = config.replace(model=model_for_stylegan2(config.model, args.stylegan2, args.quiet))
    else:
        raise InvalidInputError("give CONFIG.json or --preset NAME (or --resume with the run's own config)")
    overrides: dict[str, Any] = {}
    if args.discriminator is not None:
        overrides["discriminator"] = args.discriminator
    if args.spectral_norm is not None:
        overrides["spectral_norm"] = args.spectral_norm
    if args.steps is not None:
        overrides["stage1_steps"] = args.steps if config.model.uses_inversion else 0
        overrides["stage2_steps"] = args.steps if config.model.uses_feedforward else 0
    for name in ("stage1_steps", "stage2_steps", "batch_size", "workers", "seed", "test_count", "checkpoint_every",
                 "sample_every", "log_every"):  # fmt: skip
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if overrides:
        config = config.replace(**overrides)
    trainer = Trainer(
        config,
        run_dir,
        args.data,
        args.stylegan2,
        resume=args.resume,
        progress=not args.quiet,
        device=args.device,
        init=args.init,
    )
    final = trainer.run()
    if not args.quiet and trainer.rank == 0:
        print(f"trained {trainer.step} steps; the model is in {final} (Inpainter.from_pretrained({str(final)!r}))")
    return 0


def model_for_stylegan2(model: ModelConfig, stylegan2: str, quiet: bool) -> ModelConfig:
    """``model`` with ``G_s``'s architecture read from the StyleGAN2 file (the fusion widths follow it)."""
    from ..convert import load_stylegan2

    _, _, info = load_stylegan2(stylegan2, with_discriminator=False)
    if info.config == model.stylegan:
        return model
    if info.config.resolution != model.resolution:
        raise InvalidInputError(
            f"{stylegan2} is a {info.config.resolution}x{info.config.resolution} StyleGAN2, but preset "
            f"{model.name!r} works at {model.resolution}x{model.resolution}; pick a preset of that resolution"
        )
    widths = ", ".join(f"{r}: {info.config.channels_at(r)}" for r in info.config.resolutions)
    message = (
        f"preset {model.name!r}: G_s's architecture is taken from {stylegan2} (widths {widths}; "
        f"minibatch-stddev group {info.config.mbstd_group}); the fusion widths of G follow it"
    )
    if not quiet:
        print(message, file=sys.stderr)
    return model.replace(stylegan=info.config)


def add_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="train a model (stage 1: the style encoder; stage 2: the feed-forward path)",
        description="Train the dual-path network with the paper's recipe (docs/training.md). Runs under "
        "torchrun for several processes (DistributedDataParallel, Gloo on CPUs, NCCL on GPUs).",
    )
    p.add_argument("config", nargs="?", help="a training config.json (or use --preset)")
    p.add_argument("--preset", help="start from a model preset with the paper's hyper-parameters")
    p.add_argument("--data", required=True, help="an image folder (recursive) or a .zip of images")
    p.add_argument("--stylegan2", help="the pretrained StyleGAN2 (any format of dpinpaint convert)")
    p.add_argument("--output", "-o", required=True, help="the run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its last checkpoint")
    p.add_argument("--init", help="start from a trained Inpainter checkpoint folder (fine-tuning)")
    p.add_argument("--steps", type=non_negative_int, help="steps of each stage (overrides the config)")
    p.add_argument("--stage1-steps", type=non_negative_int)
    p.add_argument("--stage2-steps", type=non_negative_int)
    p.add_argument("--batch-size", type=positive_int, help="images per step and per process (paper: 8)")
    p.add_argument("--workers", type=non_negative_int, help="DataLoader workers")
    p.add_argument("--seed", type=int)
    p.add_argument("--test-count", type=non_negative_int, help="images held out at the end (FFHQ: 5000)")
    p.add_argument("--checkpoint-every", type=positive_int)
    p.add_argument("--sample-every", type=positive_int)
    p.add_argument("--log-every", type=positive_int)
    p.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun: cuda:LOCAL_RANK is used)")
    p.add_argument(
        "--discriminator",
        choices=["picnet", "stylegan2"],
        help="D of the feed-forward path (default picnet: PICNet's spectral-normalised residual D)",
    )
    p.add_argument(
        "--spectral-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train E and G spectral-normalised, as PICNet (default on; final/ holds plain weights)",
    )
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_train)
