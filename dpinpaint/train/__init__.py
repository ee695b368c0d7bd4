"""Training (the paper's section 3.3 and 4.1): data, losses, state and the two-stage trainer.

- :mod:`dpinpaint.train.data`: image folders and zip archives, StyleGAN2-style preparation,
  the train/test split by file order, the masked samples and a resumable, sharded sampler.

Nothing is imported here: ``import dpinpaint.train`` is cheap and has no side effects; import
the sub-modules you need.
"""
