"""vjepa-ac: train and plan with the V-JEPA 2-AC action-conditioned latent world model."""

__version__ = "0.1.0"
