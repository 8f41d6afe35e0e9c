"""The patch grid of a ViT-style config: image size (px) and patch size (px) -> token grid.

``PatchGrid`` is a mixin (no dataclass fields of its own) for configs that have ``img_size`` (a
square side or ``(height, width)``, px) and ``patch_size`` (px): the encoder's and the frame
decoder's, which must agree on it (``DecoderConfig.for_encoder``).
"""

from __future__ import annotations

from vjepa_ac.config import ConfigError, require


class PatchGrid:
    img_size: int | tuple[int, int]
    patch_size: int

    def _normalize_img_size(self) -> None:
        """Store ``(H, H)`` as ``H``; raise ``ConfigError`` for anything but a side or a pair."""
        if isinstance(self.img_size, (tuple, list)):
            require(self, "img_size", len(self.img_size) == 2, "a side or (height, width)")
            h, w = (int(v) for v in self.img_size)
            self.img_size = h if h == w else (h, w)

    def _require_whole_patches(self) -> None:
        """Raise ``ConfigError`` (key ``img_size``) unless the image tiles into whole patches."""
        if any(v % self.patch_size for v in self.size_hw):
            raise ConfigError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}",
                              key="img_size")

    @property
    def size_hw(self) -> tuple[int, int]:
        """(height, width) in px."""
        return (self.img_size, self.img_size) if isinstance(self.img_size, int) else tuple(self.img_size)

    @property
    def grid_hw(self) -> tuple[int, int]:
        """Patches per column and per row: (H / p, W / p)."""
        h, w = self.size_hw
        return h // self.patch_size, w // self.patch_size

    @property
    def tokens_per_frame(self) -> int:
        """N: tokens of one frame (H/p x W/p)."""
        gh, gw = self.grid_hw
        return gh * gw
