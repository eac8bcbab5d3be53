"""The augmentation registry: shapes and dtypes kept, seeded, per-image, and honest flips."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from toolkit.data.augment import augment_hook, augment_images, list_augmentations  # noqa: E402

ALL = list_augmentations()


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (6, 12, 10), dtype=np.uint8)


@pytest.fixture(scope="module")
def colour() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)


def test_registry_has_the_issue_s_augmentations():
    assert set(ALL) == {"noise", "hflip", "vflip", "crop", "rotation", "erasing", "elastic"}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("images", ["grey", "colour"])
def test_shape_and_dtype_kept(name, images, request):
    x = request.getfixturevalue(images)
    out = augment_images(name, x, seed=0)
    assert out.shape == x.shape and out.dtype == np.uint8


@pytest.mark.parametrize("name", ALL)
def test_seeded_and_repeatable(name, colour):
    a = augment_images(name, colour, seed=3)
    b = augment_images(name, colour, seed=3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["noise", "crop", "rotation", "elastic"])
def test_each_image_gets_its_own_draw(name):
    same = np.repeat(np.random.default_rng(2).integers(0, 256, (1, 16, 16), np.uint8), 8, axis=0)
    out = augment_images(name, same, seed=0)
    assert len({o.tobytes() for o in out}) > 1  # a batch-wide draw would give 8 equal images


def test_different_seeds_differ(grey):
    assert not np.array_equal(
        augment_images("noise", grey, seed=0), augment_images("noise", grey, seed=1)
    )


def test_hflip_mirrors_and_vflip_turns_upside_down(grey, colour):
    np.testing.assert_array_equal(augment_images("hflip", grey, 0, p=1.0), grey[:, :, ::-1])
    np.testing.assert_array_equal(augment_images("vflip", grey, 0, p=1.0), grey[:, ::-1, :])
    np.testing.assert_array_equal(augment_images("hflip", colour, 0, p=1.0), colour[:, :, ::-1])
    np.testing.assert_array_equal(augment_images("hflip", grey, 0, p=0.0), grey)


def test_default_flip_is_random_per_image(grey):
    many = np.repeat(grey[:1], 40, axis=0)
    out = augment_images("hflip", many, seed=0)
    flipped = [np.array_equal(o, grey[0, :, ::-1]) for o in out]
    kept = [np.array_equal(o, grey[0]) for o in out]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 0 < sum(flipped) < 40


def test_hook_leaves_global_rng_alone_and_moves_on(colour):
    hook = augment_hook("rotation")
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = hook(torch.from_numpy(colour), generator)
    second = hook(torch.from_numpy(colour), generator)
    assert torch.equal(torch.rand(3), before)  # torch's global generator untouched
    assert first.dtype == torch.uint8 and first.shape == colour.shape
    assert not torch.equal(first, second)  # the next batch gets a new draw


def test_empty_batch_passes_through():
    empty = np.zeros((0, 8, 8), np.uint8)
    assert augment_images("elastic", empty, seed=0).shape == (0, 8, 8)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="Unknown augmentation 'hflop'.*hflip.*elastic"):
        augment_hook("hflop")


def test_unknown_knob_lists_the_knobs():
    with pytest.raises(ValueError, match="'noise' has no knob 'p'; its knobs are sigma"):
        augment_hook("noise", p=1.0)


def test_wrong_input_is_refused():
    with pytest.raises(ValueError, match="uint8"):
        augment_images("noise", np.zeros((2, 8, 8), np.float32), seed=0)
