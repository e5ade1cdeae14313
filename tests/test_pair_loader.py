"""PairLoader and the native pair pipeline against PIL and against known ground truth.

Small data sets are written with PIL in each test: the Kaggle/pix2pix side-by-side layout
(JPEG and PNG), the aligned layout with other formats, and the official Cityscapes layout
(PNG photos with 8-bit grey or palette label-id maps).
"""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

import fastpix.data.loader as loader_module
from fastpix._native import HAVE_NATIVE, have_cuda_decoder, native_module
from fastpix.data import PairLoader
from fastpix.io import DecodeError
from fastpix.labels import LABELS, get_label_set

needs_native = pytest.mark.skipif(not HAVE_NATIVE, reason="fastpix._C not built")
LEVEL = 2 / 255  # one uint8 step after normalization to [-1, 1]
TRAINID = get_label_set("trainid")
MASK_COLORS = TRAINID.mask_palette.numpy()


def _photo(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 3 + rng.integers(0, 99), y * 2, (x * y) // 9], -1)
    return (base + rng.integers(0, 50, base.shape)).clip(0, 255).astype(np.uint8)


def _blocks(height: int, width: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """An index map of 8×8 blocks (JPEG blocks, so colours survive q=100 4:4:4 compression)."""
    cells = rng.integers(0, count, (height // 8 + 1, width // 8 + 1))
    return np.kron(cells, np.ones((8, 8), dtype=np.int64))[:height, :width]


def write_side_by_side(root, n=6, size=(64, 64), suffix=".jpg", split="train", seed=0):
    """<root>/<split>/<i><suffix>: photo | colour mask. Returns [(photo, mask colour index)]."""
    rng = np.random.default_rng(seed)
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    truth = []
    for i in range(n):
        photo = _photo(*size, rng)
        index = _blocks(*size, len(MASK_COLORS), rng)
        image = Image.fromarray(np.concatenate([photo, MASK_COLORS[index]], axis=1))
        options = {"quality": 100, "subsampling": 0} if suffix == ".jpg" else {}
        image.save(folder / f"{i}{suffix}", **options)
        truth.append((photo, index))
    return truth


def write_cityscapes(root, n=4, size=(48, 96), seed=0):
    """Official layout; the last pair's label map is a palette PNG. Returns {name: ids}."""
    rng = np.random.default_rng(seed)
    truth = {}
    for i in range(n):
        city = "aachen" if i % 2 else "bremen"
        stem = f"{city}_{i:06d}_000019"
        photo_dir = root / "leftImg8bit" / "train" / city
        label_dir = root / "gtFine" / "train" / city
        photo_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        photo = _photo(*size, rng)
        ids = _blocks(*size, 34, rng).astype(np.uint8)
        Image.fromarray(photo).save(photo_dir / f"{stem}_leftImg8bit.png")
        label = Image.fromarray(ids)
        if i == n - 1:
            label = label.convert("P")
            label.putdata(ids.ravel().tolist())
        label.save(label_dir / f"{stem}_gtFine_labelIds.png")
        truth[stem] = ids
    return truth


def batches(loader: PairLoader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(p.clone(), t.clone()) for p, t in loader]


def assert_same(native, reference, photo_atol=0.0):
    assert len(native) == len(reference)
    for (photo, target), (ref_photo, ref_target) in zip(native, reference):
        assert photo.shape == ref_photo.shape and photo.dtype == ref_photo.dtype
        assert target.shape == ref_target.shape and target.dtype == ref_target.dtype
        diff = (photo.float() - ref_photo.float()).abs().max().item()
        assert diff <= photo_atol + 1e-6, diff
        if target.is_floating_point():
            assert (target.float() - ref_target.float()).abs().max().item() <= photo_atol + 1e-6
        else:
            assert torch.equal(target, ref_target)


# name -> PairLoader options. Sizes chosen to exercise each resampling path: upscale
# (pix2pix 286/256 jitter, scaled down here), Pillow's vertical-first order (height shrinks by
# more than twice the width), image targets, JPEG draft scaling and the max_distance rule.
CONFIGS = {
    "plain": {},
    "pix2pix_jitter": {"load_size": 72, "crop_size": 64, "flip": True},
    "bilinear_vertical_first": {
        "load_size": (40, 60),
        "crop_size": (32, 47),
        "flip": True,
        "resample": "bilinear",
    },
    "image_target_float16": {
        "target": "image",
        "load_size": (80, 70),
        "crop_size": (64, 64),
        "flip": True,
        "dtype": torch.float16,
    },
    "uint8_classes_max_distance": {
        "load_size": (50, 50),
        "mask_dtype": torch.uint8,
        "max_distance": 3.0,
    },
    "jpeg_draft": {"load_size": 32, "jpeg_draft": True},
    # ResNet-34 FCN inputs (seed 003): ImageNet mean/std instead of [-1, 1].
    "imagenet_normalized": {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
}


@needs_native
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_native_matches_pil_path(config, tmp_path):
    write_side_by_side(tmp_path)
    options = dict(batch_size=4, seed=5, **CONFIGS[config])
    native = PairLoader(tmp_path, backend="native", num_threads=2, **options)
    reference = PairLoader(tmp_path, backend="pil", **options)
    # Both read the JPEGs with libjpeg-turbo: identical pixels (measured); allow one level.
    level = LEVEL * 0.5 / min(options.get("std", (0.5,)))
    for _ in range(2):  # two epochs: different orders and jitter
        assert_same(batches(native), batches(reference), photo_atol=level)


@needs_native
def test_lossless_pairs_give_the_known_truth(tmp_path):
    """PNG pairs: photos exactly normalized, classes exactly the drawn ones, crop and flip as
    the loader's jitter says."""
    truth = write_side_by_side(tmp_path, n=5, size=(40, 56), suffix=".png", seed=3)
    loader = PairLoader(
        tmp_path, layout="aligned", batch_size=5, shuffle=False, crop_size=(32, 48), flip=True
    )
    photo, classes = next(iter(loader))
    mask_lut = TRAINID.mask_lut.numpy()
    for i, (rgb, index) in enumerate(truth):
        jitter = loader.jitter(i, epoch=0)
        window = np.s_[jitter.top : jitter.top + 32, jitter.left : jitter.left + 48]
        rgb, index = rgb[window], index[window]
        if jitter.flip:
            rgb, index = rgb[:, ::-1], index[:, ::-1]
        expected = (rgb.transpose(2, 0, 1).astype(np.float64) / 255 - 0.5) / 0.5
        np.testing.assert_allclose(photo[i].numpy(), expected, atol=1e-6, rtol=0)
        np.testing.assert_array_equal(classes[i].numpy(), mask_lut[index])
    assert classes.dtype == torch.int64 and photo.dtype == torch.float32


@needs_native
def test_cityscapes_layout(tmp_path):
    truth = write_cityscapes(tmp_path)
    # Without resizing: class ids exactly the trainIds of the drawn label ids.
    loader = PairLoader(tmp_path, layout="cityscapes", batch_size=4, shuffle=False)
    photo, classes = next(iter(loader))
    train_id = np.full(256, 255, np.uint8)
    for label in LABELS:
        if label.id >= 0 and 0 <= label.train_id < 255:
            train_id[label.id] = label.train_id
    for i, pair in enumerate(loader.pairs):
        np.testing.assert_array_equal(classes[i].numpy(), train_id[truth[pair.name]])
    # With resizing, cropping and flipping: identical to the PIL path.
    options = dict(layout="cityscapes", batch_size=3, load_size=(24, 40), crop_size=(20, 32))
    options.update(flip=True, seed=2)
    assert_same(
        batches(PairLoader(tmp_path, backend="native", **options)),
        batches(PairLoader(tmp_path, backend="pil", **options)),
    )
    assert photo.shape == (4, 3, 48, 96)


def _pillow_resized(image: np.ndarray, size, resample, top, left, out, flip) -> np.ndarray:
    resized = Image.fromarray(image).resize(size[::-1], resample)
    cropped = np.asarray(resized)[top : top + out[0], left : left + out[1]]
    return cropped[:, ::-1] if flip else cropped


@needs_native
@pytest.mark.parametrize("resample", ["bicubic", "bilinear"])
def test_resize_crop_flip_match_pillow_bit_for_bit(resample):
    """Brute force over random sizes: the native photo resize (both of Pillow's pass orders)
    and the nearest-neighbour mask resize against PIL's Image.resize + crop + flip."""
    rng = np.random.default_rng(7)
    native = native_module()
    pil_filter = Image.Resampling.BICUBIC if resample == "bicubic" else Image.Resampling.BILINEAR
    identity = np.arange(256, dtype=np.float32)[None].repeat(3, 0).copy()
    colors = rng.permutation(256 * 256)[:255]
    palette = np.stack([colors // 256, colors % 256, np.zeros(255, int)], 1).astype(np.uint8)
    for _ in range(200):
        height, width = (int(v) for v in rng.integers(1, 70, 2))
        load = tuple(int(v) for v in rng.integers(1, 90, 2))
        out = (int(rng.integers(1, load[0] + 1)), int(rng.integers(1, load[1] + 1)))
        top, left = (
            int(rng.integers(0, load[0] - out[0] + 1)),
            int(rng.integers(0, load[1] - out[1] + 1)),
        )
        flip = bool(rng.integers(0, 2))
        photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        index = rng.integers(0, 255, (height, width))
        pair = np.ascontiguousarray(np.concatenate([photo, palette[index]], axis=1))
        decoder = native.PairDecoder(
            side_by_side=True, target="colors", filter=resample, load_size=load,
            require_load_size=False, out_size=out, photo_lut=identity, class_itemsize=8,
            palette=palette, mask_lut=np.arange(256, dtype=np.uint8), ignore_index=255,
            max_distance_sq=-1.0, id_lut=np.zeros(256, np.uint8), max_pixels=0,
            jpeg_draft=False, num_threads=1,
        )  # fmt: skip
        got_photo = np.empty((1, 3, *out), np.float32)
        got_index = np.empty((1, *out), np.int64)
        assert decoder.decode([pair], None, [top], [left], [flip], got_photo, got_index) == []
        expected = _pillow_resized(photo, load, pil_filter, top, left, out, flip)
        np.testing.assert_array_equal(got_photo[0].transpose(1, 2, 0), expected)
        index_image = index.astype(np.uint8)
        expected_index = _pillow_resized(
            index_image, load, Image.Resampling.NEAREST, top, left, out, flip
        )
        np.testing.assert_array_equal(got_index[0], expected_index)


def _mask_colours_to_test(rng) -> np.ndarray:
    """256×256 colours: uniform random ones, mask colours plus JPEG-like noise, and every colour
    of the 8×8×8 cells around the midpoints between pairs of mask colours (where the decoder's
    per-cell shortcut must defer to the exact rule)."""
    noisy = MASK_COLORS[rng.integers(0, len(MASK_COLORS), 4096 * 6)] + rng.integers(
        -12, 13, (4096 * 6, 3)
    )
    pairs = rng.integers(0, len(MASK_COLORS), (32, 2))
    corners = ((MASK_COLORS[pairs[:, 0]].astype(int) + MASK_COLORS[pairs[:, 1]]) // 2) & ~7
    cube = np.stack(np.meshgrid(*[np.arange(8)] * 3, indexing="ij"), -1).reshape(-1, 3)
    cells = (corners[:, None, :] + cube[None]).reshape(-1, 3)
    uniform = rng.integers(0, 256, (65536 - len(noisy) - len(cells), 3))
    colours = np.concatenate([noisy, cells, uniform]).clip(0, 255).astype(np.uint8)
    return colours.reshape(256, 256, 3)


def _nearest_mask_colour_classes(colours: np.ndarray, max_distance: float | None) -> np.ndarray:
    """Brute force over the mask colours (the rule of palette_to_class): nearest by squared
    distance, lowest index on ties, ignore_index beyond max_distance; then mask_lut."""
    diff = colours.reshape(-1, 1, 3).astype(np.int32) - MASK_COLORS[None].astype(np.int32)
    distance = (diff**2).sum(-1)
    index = distance.argmin(1)  # first minimum: the lowest index
    if max_distance is not None:
        beyond = distance.min(1).astype(np.float32) > np.float32(max_distance**2)
        index = np.where(beyond, TRAINID.ignore_index, index)
    return TRAINID.mask_lut.numpy()[index].reshape(colours.shape[:-1])


@needs_native
@pytest.mark.parametrize("max_distance", [None, 20.0])
def test_mask_colours_classify_like_the_reference(max_distance):
    """The native colour → class table (cached per 8×8×8 cell, exact per colour where a cell
    is mixed) against a brute-force nearest-colour search over 65536 chosen colours."""
    mask = _mask_colours_to_test(np.random.default_rng(3))
    pair = np.ascontiguousarray(np.concatenate([np.zeros_like(mask), mask], axis=1))
    limit = -1.0 if max_distance is None else float(np.float32(max_distance**2))
    decoder = native_module().PairDecoder(
        side_by_side=True, target="colors", filter="bicubic", load_size=(256, 256),
        require_load_size=True, out_size=(256, 256), photo_lut=np.zeros((3, 256), np.float32),
        class_itemsize=1, palette=MASK_COLORS, mask_lut=TRAINID.mask_lut.numpy(),
        ignore_index=TRAINID.ignore_index, max_distance_sq=limit, id_lut=TRAINID.id_lut,
        max_pixels=0, jpeg_draft=False, num_threads=1,
    )  # fmt: skip
    expected = _nearest_mask_colour_classes(mask, max_distance)
    photo = np.empty((1, 3, 256, 256), np.float32)
    classes = np.empty((1, 256, 256), np.uint8)
    for _ in range(2):  # first fills the tables, then reads them
        assert decoder.decode([pair], None, [0], [0], [False], photo, classes) == []
        np.testing.assert_array_equal(classes[0], expected)


@needs_native
def test_deterministic_across_threads_prefetch_and_epochs(tmp_path):
    write_side_by_side(tmp_path, n=7)
    options = dict(batch_size=3, seed=11, load_size=72, crop_size=64, flip=True)
    one = PairLoader(tmp_path, num_threads=1, prefetch=0, **options)
    two = PairLoader(tmp_path, num_threads=2, prefetch=3, **options)
    epoch0, epoch0_again = batches(one), batches(two)
    assert_same(epoch0, epoch0_again)
    assert one.epoch == 1 and two.epoch == 1  # iterating advances the epoch
    epoch1 = batches(one)
    assert not torch.equal(epoch0[0][0], epoch1[0][0])  # new order and jitter
    one.set_epoch(0)
    assert_same(batches(one), epoch0)


def test_sharding_like_distributed_sampler(tmp_path):
    write_side_by_side(tmp_path, n=10, size=(16, 16), suffix=".png")

    def shards(batch_size: int, drop_last: bool) -> list[list[list[int]]]:
        return [
            PairLoader(
                tmp_path, batch_size=batch_size, rank=rank, world_size=3, drop_last=drop_last
            ).batch_indices(epoch=2)
            for rank in range(3)
        ]

    # Pad: 10 pairs over 3 ranks → 4 each, the first pairs of the permutation repeated.
    padded = [list(itertools.chain(*rank)) for rank in shards(1, drop_last=False)]
    assert [len(r) for r in padded] == [4, 4, 4]
    assert set(itertools.chain(*padded)) == set(range(10))
    # Drop: 3 each, disjoint.
    dropped = [list(itertools.chain(*rank)) for rank in shards(1, drop_last=True)]
    assert [len(r) for r in dropped] == [3, 3, 3]
    assert len(set(itertools.chain(*dropped))) == 9
    # Shards are slices of one permutation of the epoch, whatever the batch size.
    assert [list(itertools.chain(*rank)) for rank in shards(2, drop_last=False)] == padded
    # drop_last also drops the incomplete last batch: every rank gets as many full batches.
    assert [[len(b) for b in rank] for rank in shards(2, drop_last=True)] == [[2]] * 3
    assert [[len(b) for b in rank] for rank in shards(2, drop_last=False)] == [[2, 2]] * 3
    loader = PairLoader(tmp_path, batch_size=4, rank=1, world_size=3, shuffle=False)
    assert len(loader) == 1 and [p.shape[0] for p, _ in loader] == [4]


@pytest.mark.parametrize("backend", ["native", "pil"])
def test_bad_files_raise_or_are_skipped(backend, tmp_path):
    if backend == "native" and not HAVE_NATIVE:
        pytest.skip("fastpix._C not built")
    write_side_by_side(tmp_path, n=6, size=(32, 32))
    folder = tmp_path / "train"
    data = (folder / "1.jpg").read_bytes()
    (folder / "1.jpg").write_bytes(data[: len(data) // 3])  # truncated
    (folder / "3.jpg").write_bytes(b"")  # zero bytes
    Image.new("RGB", (63, 32)).save(folder / "4.jpg")  # odd width
    options = dict(batch_size=6, shuffle=False, backend=backend, load_size=32)
    with pytest.raises(DecodeError, match=r"(?i)1\.jpg.*(premature end|truncated)"):
        list(PairLoader(tmp_path, **options))
    loader = PairLoader(tmp_path, on_error="skip", **options)
    (photo, classes), *rest = list(loader)
    assert not rest and photo.shape[0] == 3 and classes.shape[0] == 3
    assert loader.skipped == 3
    text = "\n".join(loader.errors)
    assert "1.jpg" in text and "3.jpg" in text and "width 63 is odd" in text


@needs_native
def test_size_mismatch_needs_load_size(tmp_path):
    write_side_by_side(tmp_path, n=3, size=(32, 32), suffix=".png")
    Image.new("RGB", (80, 40)).save(tmp_path / "train" / "2.png")
    with pytest.raises(DecodeError, match=r"2\.png: halves are 40x40, expected 32x32"):
        list(PairLoader(tmp_path, batch_size=3))
    photo, _ = next(iter(PairLoader(tmp_path, batch_size=3, load_size=32)))
    assert photo.shape == (3, 3, 32, 32)


@needs_native
def test_other_formats_decode_through_pil_into_the_native_pipeline(tmp_path):
    write_side_by_side(tmp_path, n=3, size=(24, 24), suffix=".bmp")
    options = dict(layout="aligned", batch_size=3, load_size=30, crop_size=24, flip=True)
    assert_same(
        batches(PairLoader(tmp_path, backend="native", **options)),
        batches(PairLoader(tmp_path, backend="pil", **options)),
    )


@needs_native
def test_gil_released_while_a_batch_decodes(tmp_path):
    """A Python thread keeps running in the middle of a long native batch decode."""
    write_side_by_side(tmp_path, n=1, size=(256, 256))
    path = str(tmp_path / "train" / "0.jpg")
    decoder = PairLoader(tmp_path, num_threads=1, load_size=286, crop_size=256)._decoder
    n = 150
    photo = np.empty((n, 3, 256, 256), np.float32)
    classes = np.empty((n, 256, 256), np.int64)
    ticks: list[float] = []
    done = threading.Event()

    def count() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0005)

    thread = threading.Thread(target=count)
    thread.start()
    time.sleep(0.01)
    start = time.perf_counter()
    errors = decoder.decode([path] * n, None, [0] * n, [0] * n, [False] * n, photo, classes)
    end = time.perf_counter()
    done.set()
    thread.join()
    assert errors == []
    middle = [t for t in ticks if start + 0.3 * (end - start) < t < start + 0.7 * (end - start)]
    assert middle, "no Python thread ran while the batch decoded: the GIL was held"


def test_falls_back_to_pil_without_the_native_module(tmp_path, monkeypatch):
    monkeypatch.setattr(loader_module, "native_module", lambda: None)
    write_side_by_side(tmp_path, n=2, size=(16, 16), suffix=".png")
    loader = PairLoader(tmp_path, batch_size=2)
    assert loader.backend == "pil"
    photo, classes = next(iter(loader))
    assert photo.shape == (2, 3, 16, 16) and classes.shape == (2, 16, 16)
    with pytest.raises(ImportError, match="fastpix._C"):
        PairLoader(tmp_path, backend="native")


def test_bad_arguments_name_the_choices(tmp_path):
    write_side_by_side(tmp_path, n=1, size=(16, 16), suffix=".png")
    for bad, match in [
        ({"target": "mask"}, "target must be one of 'classes', 'image'"),
        ({"backend": "gpu"}, "backend must be one of"),
        ({"on_error": "ignore"}, "on_error must be one of"),
        ({"crop_size": 20}, r"crop_size \(20, 20\) is larger"),
        ({"rank": 3, "world_size": 2}, "rank < world_size"),
        ({"dtype": torch.int32}, "dtype must be one of"),
    ]:
        with pytest.raises(ValueError, match=match):
            PairLoader(tmp_path, **bad)


needs_cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() and HAVE_NATIVE and have_cuda_decoder()),
    reason="needs a CUDA device and fastpix._C_cuda",
)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("config", ["plain", "pix2pix_jitter", "image_target_float16"])
def test_nvjpeg_matches_cpu_decoder(config, tmp_path):
    write_side_by_side(tmp_path, n=9, size=(64, 64))
    options = dict(batch_size=4, seed=5, device="cuda", **CONFIGS[config])
    gpu = PairLoader(tmp_path, backend="nvjpeg", **options)
    cpu = PairLoader(tmp_path, backend="native", **options)
    assert gpu.backend == "nvjpeg"
    for (photo, target), (ref_photo, ref_target) in zip(gpu, cpu):
        assert photo.is_cuda and photo.shape == ref_photo.shape
        diff = (photo.float() - ref_photo.float()).abs()
        # nvJPEG's IDCT and chroma upsampling differ from libjpeg's by a few levels.
        assert diff.max().item() <= 6 * LEVEL and diff.mean().item() <= LEVEL
        if target.is_floating_point():
            assert (target.float() - ref_target.float()).abs().max().item() <= 6 * LEVEL
        else:
            assert torch.equal(target, ref_target)  # flat q=100 colour blocks: same classes
    assert gpu._decoder.cpu_batches == 0


@pytest.mark.cuda
@needs_cuda
def test_nvjpeg_hands_batches_it_cannot_decode_to_the_cpu(tmp_path):
    write_side_by_side(tmp_path, n=4, size=(32, 32))
    pair = Image.open(tmp_path / "train" / "2.jpg").convert("CMYK")
    pair.save(tmp_path / "train" / "2.jpg", quality=100)
    options = dict(batch_size=4, shuffle=False, device="cuda")
    gpu = PairLoader(tmp_path, backend="nvjpeg", **options)
    cpu = PairLoader(tmp_path, backend="native", **options)
    assert_same(batches(gpu), batches(cpu))
    assert gpu._decoder.cpu_batches == 1


def test_cuda_module_loads_on_any_host():
    """Where fastpix._C_cuda was built (CI builds it), it imports without a GPU: cudart is
    linked statically and libnvjpeg is found through the module's RPATH."""
    import importlib.util

    if importlib.util.find_spec("fastpix._C_cuda") is None:
        pytest.skip("fastpix._C_cuda not built (no nvcc / nvJPEG at install time)")
    from fastpix._native import cuda_module

    module = cuda_module()
    assert module.nvjpeg_version.count(".") == 2
    assert hasattr(module, "CudaPairDecoder")


def test_io_command_lists_bad_files(tmp_path, monkeypatch, capsys):
    import fastpix.cli

    monkeypatch.setattr(fastpix.cli, "COMMANDS", ["fastpix.io.cli"])
    write_side_by_side(tmp_path, n=4, size=(16, 16), suffix=".png")
    assert fastpix.cli.main(["io", str(tmp_path)]) == 0
    assert "4 of 4 pairs decoded" in capsys.readouterr().out
    (tmp_path / "train" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    assert fastpix.cli.main(["io", str(tmp_path), "--batch-size", "3"]) == 1
    out = capsys.readouterr().out
    assert "3 of 4 pairs decoded" in out and "bad: " in out and "2.png" in out
    assert fastpix.cli.main(["io", str(tmp_path), "--load-size", "1", "2", "3"]) == 2
    assert "--load-size takes H or H W" in capsys.readouterr().err
    assert fastpix.cli.main(["io", str(tmp_path / "missing")]) == 2
