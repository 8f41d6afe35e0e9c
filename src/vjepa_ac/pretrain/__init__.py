"""Self-supervised pretraining of the project's V-JEPA 2 encoder on simulated robot video (issue 7).

A V-JEPA-style objective for ``models.encoder.VisionTransformer``: a context encoder sees the
tokens a multi-block mask leaves visible, a narrow predictor fills the masked positions in, and
the target is the layer-normed output of an EMA copy of the encoder (L1 loss).

| module | job |
| --- | --- |
| `masks.py` | multi-block masks over a token grid -> context / target indices `[B, K]` |
| `model.py` | `encode_tokens` (the encoder on a subset of tokens), `JEPAPredictor`, `JEPA`, `ema_update` |
| `frames.py` | every frame of a raw DROID dataset in memory (`FrameSet`), episode split, crops |
| `train.py` | `PretrainConfig`, schedules, `train_step`, `pretrain` |
| `probe.py` | frozen-feature probes: ridge regression to the state, feature distance vs EE displacement |
| `displacement.py` | renders controlled end-effector displacements in the simulator (needs `[sim]`) |

The encoder keeps the exact ``VisionTransformer`` parameters, so ``official.save_encoder`` output
loads with ``official.load_released_encoder``.
"""
