"""Hand-made image statistics as a PyTorch module: the front of the `features_mlp` model.

The same module computes the numbers a study plots and the features the classifier sees,
and it is exported inside the classifier's ONNX graph, so the three never drift apart.

Every zoo network receives the contract module's per-channel standardised image
(:meth:`toolkit.nets.ContractModule.normalise`: ``(pixel / 255 - mean) / std`` with the
training set's mean and std), so the features are defined on it:

- luminance: the standardised grey channel, or for colour the Rec. 601 weighted sum
  (0.299 R + 0.587 G + 0.114 B) of the standardised channels;
- ink: pixels whose luminance is above 0, i.e. brighter than the training set's mean pixel.
  This is a fixed threshold (one value for the whole dataset, not Otsu per image).

Example:
    >>> import numpy as np
    >>> images = np.zeros((2, 8, 8), np.uint8); images[:, 2:6, 3:5] = 255
    >>> table = feature_table(images, mean=[0.1], std=[0.3])
    >>> table[0, FEATURE_NAMES.index("bbox_height")].item()
    4.0
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Rec. 601 luma weights for R, G, B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: Feature name -> what it measures, with its unit (used for axis labels and tables).
FEATURES: dict[str, str] = {
    "mean_intensity": "mean luminance (standardised: 0 = training mean)",
    "intensity_std": "luminance spread within the image (standardised units)",
    "ink_share": "share of pixels that are ink (luminance above the training mean)",
    "bbox_width": "width of the ink's bounding box (pixels)",
    "bbox_height": "height of the ink's bounding box (pixels)",
    "bbox_aspect": "bounding box width / height",
    "com_row": "row of the centre of mass of the brightness above the mean (pixels)",
    "com_col": "column of that centre of mass (pixels)",
    "asymmetry_lr": "share of pixels whose ink changes under a left-right mirror",
    "asymmetry_ud": "share of pixels whose ink changes under an up-down mirror",
    "runs_per_row": "mean number of separate ink strokes crossed per inked row",
    "runs_per_col": "mean number of separate ink strokes crossed per inked column",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)

#: A tiny weight every pixel gets in the centre of mass, so a blank image sits at the centre.
_COM_EPS = 1e-4


class ImageFeatures(nn.Module):
    """Standardised float images [N, C, H, W] -> the statistics of FEATURE_NAMES, [N, F]."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("luma", torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1))

    def luminance(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> [N, H, W]: the grey channel, or the luma of a colour image."""
        if x.shape[1] == 3:
            return (x * self.luma).sum(dim=1)
        return x[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lum = self.luminance(x)
        _, height, width = lum.shape
        ink = (lum > 0).to(lum.dtype)
        # sums, not amax: onnxruntime's symbolic shape inference (run before quantization)
        # cannot follow ReduceMax with axes as an input
        rows_inked = (ink.sum(dim=2) > 0).to(lum.dtype)  # [N, H]: 1 where the row holds ink
        cols_inked = (ink.sum(dim=1) > 0).to(lum.dtype)  # [N, W]
        has_ink = (rows_inked.sum(dim=1) > 0).to(lum.dtype)
        bbox_height = _extent(rows_inked) * has_ink
        bbox_width = _extent(cols_inked) * has_ink
        weight = torch.relu(lum) + _COM_EPS
        total = weight.sum(dim=(1, 2))
        rows = torch.arange(height, dtype=lum.dtype, device=lum.device).view(1, height, 1)
        cols = torch.arange(width, dtype=lum.dtype, device=lum.device).view(1, 1, width)
        features = [
            lum.mean(dim=(1, 2)),
            lum.flatten(1).std(dim=1),
            ink.mean(dim=(1, 2)),
            bbox_width,
            bbox_height,
            bbox_width / bbox_height.clamp(min=1.0),
            (weight * rows).sum(dim=(1, 2)) / total,
            (weight * cols).sum(dim=(1, 2)) / total,
            (ink - torch.flip(ink, dims=[2])).abs().mean(dim=(1, 2)),
            (ink - torch.flip(ink, dims=[1])).abs().mean(dim=(1, 2)),
            _runs(ink, dim=2).sum(dim=1) / rows_inked.sum(dim=1).clamp(min=1.0),
            _runs(ink, dim=1).sum(dim=1) / cols_inked.sum(dim=1).clamp(min=1.0),
        ]
        return torch.stack(features, dim=1)


def _runs(ink: torch.Tensor, dim: int) -> torch.Tensor:
    """Separate ink runs along ``dim`` of a 0/1 [N, H, W] mask: the 0 -> 1 steps, plus one
    where the line starts with ink."""
    length = ink.shape[dim]
    first = ink.narrow(dim, 0, 1).sum(dim=dim)
    rises = torch.relu(ink.narrow(dim, 1, length - 1) - ink.narrow(dim, 0, length - 1))
    return first + rises.sum(dim=dim)


def _extent(inked: torch.Tensor) -> torch.Tensor:
    """Last minus first inked index, plus one, along dim 1 of a 0/1 [N, L] tensor."""
    length = inked.shape[1]
    first = torch.argmax(inked, dim=1)
    last = length - 1 - torch.argmax(torch.flip(inked, dims=[1]), dim=1)
    return (last - first + 1).to(inked.dtype)


class FeatureMLP(nn.Module):
    """ImageFeatures -> a fixed standardisation -> a small MLP.

    The standardisation is a BatchNorm without learned scale or shift and with
    ``momentum=None``: its running mean and variance are the plain average over every
    training batch, and in eval mode (and in the exported graph) they are fixed constants.
    """

    def __init__(self, num_classes: int, *, depth: int = 2, width: int = 64):
        from toolkit.nets import MLP

        super().__init__()
        self.features = ImageFeatures()
        self.standardise = nn.BatchNorm1d(len(FEATURE_NAMES), affine=False, momentum=None)
        self.head = MLP(len(FEATURE_NAMES), num_classes, depth=depth, width=width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.standardise(self.features(x)))


def feature_table(
    images: np.ndarray,
    mean: list[float],
    std: list[float],
    *,
    features: ImageFeatures | None = None,
    batch_size: int = 4096,
) -> np.ndarray:
    """float64 [N, F] features of uint8 images [N, H, W(, 3)], standardised with ``mean``/``std``.

    Pass the trained model's own normalisation (``ContractModule.mean/std``) and feature
    module to get exactly the numbers its graph computes.
    """
    from toolkit.nets import ContractModule

    images = np.ascontiguousarray(images)
    layout = "NHWC" if images.ndim == 4 else "NHW"
    front = ContractModule(features or ImageFeatures(), mean, std, layout).eval()
    out = []
    with torch.inference_mode():
        for first in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[first : first + batch_size])
            out.append(front.net(front.normalise(batch)).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(FEATURE_NAMES)))
