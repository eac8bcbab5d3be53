"""The one preprocessing step of the scikit-learn models, mirrored op for op in their ONNX graph.

Pixels are cast to float32 and divided by 255 in float32, exactly as the graph's Cast and Div
do, so the exported file sees bit-identical features and parity is about the model alone.
"""

from __future__ import annotations

import numpy as np

PIXEL_SCALE = np.float32(255.0)


def to_features(images: np.ndarray) -> np.ndarray:
    """uint8 images [N, H, W(, 3)] -> float32 features [N, H*W(*3)] in [0, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"Images must be uint8 raw pixels; got dtype {images.dtype}.")
    return images.reshape(len(images), -1).astype(np.float32) / PIXEL_SCALE
