"""Training (the paper's section 3.3 and 4.1): data, losses, state and the two-stage trainer.

- :mod:`dpinpaint.train.data`: image folders and zip archives, StyleGAN2-style preparation,
  the train/test split by file order, the masked samples and a resumable, sharded sampler;
- :mod:`dpinpaint.train.losses`: the paper's loss terms (eq. 8-14) as functions;
- :mod:`dpinpaint.train.loss`: :class:`~dpinpaint.train.loss.DualPathLoss`, the training
  objective over the (DDP-wrapped) networks, one optimiser update at a time;
- :mod:`dpinpaint.train.trainer`: :class:`~dpinpaint.train.trainer.Trainer`, which builds a run
  and keeps the loop, logging and checkpoints; with :mod:`~dpinpaint.train.config`,
  :mod:`~dpinpaint.train.schedule` (stage-2 phases), :mod:`~dpinpaint.train.state`
  (checkpoints), :mod:`~dpinpaint.train.networks` (``D``, the pretrained StyleGAN2, ``--init``),
  :mod:`~dpinpaint.train.ema` (the weight average) and :mod:`~dpinpaint.train.distributed`
  (``torchrun``).

Nothing is imported here: ``import dpinpaint.train`` is cheap and has no side effects; import
the sub-modules you need.
"""
