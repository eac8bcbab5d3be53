"""Image augmentations: a registry of torchvision.transforms.v2 transforms, applied per image.

Each augmentation is one plain function ``(image_hw, **knobs) -> v2 transform`` registered
under its name; sizes (crop padding, elastic smoothness) scale with the image, so the same
name works on 8x8 digits, 28x28 MNIST and 32x32 colour folders.

A v2 transform called on a batched tensor draws ONE set of random parameters for the whole
batch (one angle, one crop). Training wants a fresh draw per image, so the transform is
applied image by image. torchvision draws from torch's global generator; each call forks
that state, seeds it from the caller's generator and restores it afterwards, so results are
repeatable and nothing else that uses torch's global generator (dropout, init) is disturbed.

Flips take ``p`` (default 0.5, as torchvision's own default: a random flip, half of the
images); random erasing too. Every other augmentation is applied to every image, with
random strength.

Example:
    >>> import numpy as np
    >>> images = np.zeros((4, 28, 28), np.uint8)
    >>> augment_images("rotation", images, seed=0).shape
    (4, 28, 28)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import v2

from toolkit.registry import Registry, first_doc_line

#: The engine's augmentation hook: (uint8 batch [N, H, W(, 3)], generator) -> uint8 batch.
AugmentHook = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class AugmentationEntry:
    """A registered augmentation: its builder and the one-line summary listings show."""

    name: str
    build: Callable[..., v2.Transform]

    @property
    def summary(self) -> str:
        """The first line of the builder's docstring."""
        return first_doc_line(self.build)


AUGMENTATIONS: Registry[AugmentationEntry] = Registry(
    "augmentation", "toolkit.data.augment.list_augmentations()"
)


def register_augmentation(build: Callable[..., v2.Transform]) -> Callable[..., v2.Transform]:
    """Register a builder ``(image_hw, **knobs) -> transform`` under its function name."""
    AUGMENTATIONS.add(build.__name__, AugmentationEntry(build.__name__, build))
    return build


def list_augmentations() -> list[str]:
    """Every augmentation's name, in registration order."""
    return AUGMENTATIONS.names()


# --- the augmentations: (image_hw, **knobs) -> a v2 transform on a uint8 [C, H, W] tensor ---


@register_augmentation
def noise(image_hw: tuple[int, int], sigma: float = 0.1) -> v2.Transform:
    """Additive Gaussian noise (std 0.1 of full scale), clipped to the pixel range."""
    return v2.Compose(
        [
            v2.ToDtype(torch.float32, scale=True),
            v2.GaussianNoise(mean=0.0, sigma=sigma, clip=True),
            v2.ToDtype(torch.uint8, scale=True),
        ]
    )


@register_augmentation
def hflip(image_hw: tuple[int, int], p: float = 0.5) -> v2.Transform:
    """Horizontal flip (mirror left-right) with probability p (0.5)."""
    return v2.RandomHorizontalFlip(p=p)


@register_augmentation
def vflip(image_hw: tuple[int, int], p: float = 0.5) -> v2.Transform:
    """Vertical flip (upside down) with probability p (0.5)."""
    return v2.RandomVerticalFlip(p=p)


@register_augmentation
def crop(image_hw: tuple[int, int], pad_fraction: float = 0.1) -> v2.Transform:
    """Random crop of the original size from the image padded by 10% of its side (a shift)."""
    pad = max(1, round(min(image_hw) * pad_fraction))
    return v2.RandomCrop(tuple(image_hw), padding=pad, padding_mode="edge")


@register_augmentation
def rotation(image_hw: tuple[int, int], degrees: float = 20.0) -> v2.Transform:
    """Random rotation by up to +-20 degrees about the centre, corners filled with black."""
    return v2.RandomRotation(degrees)


@register_augmentation
def erasing(image_hw: tuple[int, int], p: float = 0.5) -> v2.Transform:
    """Random erasing (p 0.5): a rectangle of 2-33% of the image set to black."""
    return v2.RandomErasing(p=p, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0)


@register_augmentation
def elastic(image_hw: tuple[int, int], alpha: float = 1.5, sigma: float = 0.1) -> v2.Transform:
    """Elastic distortion: a smooth random displacement field (both scaled to the image side).

    torchvision blurs the field with a kernel of 8 sigma + 1 pixels, the bulk of this
    augmentation's cost; sigma at a tenth of the side keeps it smooth and the kernel small.
    """
    side = min(image_hw)
    return v2.ElasticTransform(alpha=alpha * side, sigma=max(1.0, sigma * side))


# --- applying them ------------------------------------------------------------------------


def always_applied(name: str) -> dict:
    """Knobs that make ``name`` change every image: ``p=1`` where it has a probability.

    For sample grids and embeddings of augmented sets, where an untouched image would
    only hide what the augmentation does.
    """
    import inspect

    params = inspect.signature(AUGMENTATIONS.get(name).build).parameters
    return {"p": 1.0} if "p" in params else {}


def build_augmentation(name: str, image_hw: tuple[int, int], **knobs) -> v2.Transform:
    """The transform ``name`` for images of size ``image_hw``.

    Raises:
        ValueError: an unknown name (the message lists the known ones) or knob (the message
            lists the augmentation's knobs).
    """
    import inspect

    build = AUGMENTATIONS.get(name).build
    known = [k for k in inspect.signature(build).parameters if k != "image_hw"]
    unknown = [k for k in knobs if k not in known]
    if unknown:
        raise ValueError(
            f"Augmentation '{name}' has no knob {unknown[0]!r}; its knobs are "
            f"{', '.join(known) or 'none'}."
        )
    return build(tuple(image_hw), **knobs)


def _per_image(transform: v2.Transform, batch: torch.Tensor, seed: int) -> torch.Tensor:
    """Apply ``transform`` to each image of a uint8 [N, H, W(, 3)] CPU batch, one draw each."""
    if len(batch) == 0:
        return batch.clone()
    colour = batch.ndim == 4
    chw = batch.permute(0, 3, 1, 2) if colour else batch.unsqueeze(1)
    threads = torch.get_num_threads()
    # one small image per call: thread start-up costs more than it saves (measured 3-20x)
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)  # the CPU generator only, not CUDA's
            out = torch.stack([transform(image) for image in chw])
    finally:
        torch.set_num_threads(threads)
    return out.permute(0, 2, 3, 1).contiguous() if colour else out.squeeze(1)


def augment_hook(name: str, **knobs) -> AugmentHook:
    """The engine hook for augmentation ``name``: a fresh random draw per image.

    Each call takes one seed from the engine's generator, so a training run is repeatable
    and successive batches differ. The batch is augmented on the CPU and sent back to the
    device it came from.

    Raises:
        ValueError: an unknown name or knob (checked now, not at the first batch).
    """
    build_augmentation(name, (8, 8), **knobs)
    return _hook(lambda hw: build_augmentation(name, hw, **knobs), f"augment_{name}")


def compose_hook(names: Sequence[str]) -> AugmentHook:
    """The engine hook applying the augmentations ``names`` in order, each with its default
    knobs (a recipe's augmentation list).

    'hflip', 'crop' and 'erasing' are drawn for the whole batch at once, on the batch's
    device (:data:`BATCHED`: the same distributions as their torchvision transforms, not the
    same draws); the others go image by image as in :func:`augment_hook`. The image-by-image
    loop costs about as much per image as a small CNN's training step on a CPU, which a
    30-epoch recipe would pay 30 times over.

    Raises:
        ValueError: an empty list or an unknown name (checked now).
    """
    names = list(names)
    if not names:
        raise ValueError("compose_hook needs at least one augmentation name.")
    steps = [BATCHED.get(name) or augment_hook(name) for name in names]

    def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for step in steps:
            batch = step(batch, generator)
        return batch

    augment.__name__ = "augment_" + "+".join(names)
    return augment


def _draw(generator: torch.Generator, n: int) -> torch.Tensor:
    """n uniform [0, 1) numbers from the engine's generator, on its device."""
    return torch.rand(n, generator=generator, device=generator.device)


def _batched_hflip(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """hflip (p 0.5) for a whole uint8 [N, H, W(, 3)] batch: one coin per image."""
    flip = (_draw(generator, len(batch)) < 0.5).to(batch.device)
    shape = (-1,) + (1,) * (batch.ndim - 1)
    return torch.where(flip.view(shape), batch.flip(2), batch)


def _batched_crop(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """crop (pad 10% of the side, edge padding) for a whole batch: one shift per image.

    A crop of the edge-padded image at offset d is the image read at clamped indices
    (i + d - pad), so no padded copy is made."""
    n, h, w = batch.shape[:3]
    pad = max(1, round(min(h, w) * 0.1))
    device = batch.device
    offsets = (_draw(generator, 2 * n) * (2 * pad + 1)).long().clamp_(max=2 * pad).to(device)
    dy, dx = offsets[:n] - pad, offsets[n:] - pad
    rows = (torch.arange(h, device=device) + dy[:, None]).clamp_(0, h - 1)
    cols = (torch.arange(w, device=device) + dx[:, None]).clamp_(0, w - 1)
    index = torch.arange(n, device=device)[:, None, None]
    return batch[index, rows[:, :, None], cols[:, None, :]]


def _batched_erasing(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """erasing (p 0.5, 2-33% of the area, aspect 0.3-3.3, black) for a whole batch.

    torchvision's RandomErasing rule: up to 10 tries of a random area and log-uniform
    aspect ratio; the first rectangle that fits is erased, none if no try fits."""
    n, h, w = batch.shape[:3]
    device, tries = batch.device, 10
    u = _draw(generator, 5 * n * tries).view(5, n, tries).to(device)
    area = h * w * (0.02 + u[0] * (0.33 - 0.02))
    aspect = torch.exp(math.log(0.3) + u[1] * (math.log(3.3) - math.log(0.3)))
    eh = torch.sqrt(area * aspect).round().long()
    ew = torch.sqrt(area / aspect).round().long()
    fits = (eh < h) & (ew < w)
    first = fits.float().argmax(dim=1)  # the first try that fits (0 when none does)
    pick = torch.arange(n, device=device)
    eh, ew = eh[pick, first], ew[pick, first]
    top = (u[2][pick, first] * (h - eh + 1)).long().clamp(max=h - 1)
    left = (u[3][pick, first] * (w - ew + 1)).long().clamp(max=w - 1)
    erase = fits.any(dim=1) & (u[4][:, 0] < 0.5)
    rows = torch.arange(h, device=device)[None, :]
    cols = torch.arange(w, device=device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
    mask = in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]
    if batch.ndim == 4:
        mask = mask[..., None]
    return batch.masked_fill(mask, 0)


#: Batched versions (whole batch, on its device) of augmentations with their default knobs.
BATCHED: dict[str, AugmentHook] = {
    "hflip": _batched_hflip,
    "crop": _batched_crop,
    "erasing": _batched_erasing,
}


def _hook(build: Callable[[tuple[int, int]], v2.Transform], name: str) -> AugmentHook:
    """A hook around ``build(image_hw)`` (built once per image size): one seed per batch
    from the engine's generator, one draw per image."""
    cache: dict[tuple[int, int], v2.Transform] = {}

    def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        hw = tuple(batch.shape[1:3])
        if hw not in cache:
            cache[hw] = build(hw)
        seed = int(
            torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item()
        )
        return _per_image(cache[hw], batch.cpu(), seed).to(batch.device)

    augment.__name__ = name
    return augment


def augment_images(name: str, images: np.ndarray, seed: int, **knobs) -> np.ndarray:
    """Augment uint8 images [N, H, W] or [N, H, W, 3]; same shape and dtype back.

    Raises:
        ValueError: an unknown name, or images that are not uint8 [N, H, W(, 3)].
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(
            f"Images must be uint8 [N, H, W] or [N, H, W, 3]; got {images.dtype} "
            f"{list(images.shape)}."
        )
    hook = augment_hook(name, **knobs)
    out = hook(torch.from_numpy(np.ascontiguousarray(images)), torch.Generator().manual_seed(seed))
    return out.numpy()
