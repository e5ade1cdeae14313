"""fastpix.compat.spade against an independent rebuild of the NVlabs SPADE networks.

``reference_spade.py`` (beside this file) rebuilds the NVlabs generator and discriminator from
their published architecture with plain torch layers in NVlabs' module structure. Verified
here: the full-size Cityscapes key list and shapes, the parameter count NVlabs prints for its
COCO-Stuff generator (97.5 M, NVlabs/SPADE issue #133), checkpoint loading with outputs equal
to the reference's (spectral norm folded or kept), the folding formula against torch's
``remove_spectral_norm``, and the errors for checkpoints that do not fit.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import remove_spectral_norm

from fastpix.compat import spade as compat
from fastpix.models.spade import MultiscaleDiscriminator, SPADEGenerator, fold_spectral_norm


def _load_reference_module():
    path = Path(__file__).with_name("reference_spade.py")
    spec = importlib.util.spec_from_file_location("reference_spade", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference_module()


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def key_shapes(state: dict) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in state.items()]


def semantic_map(n: int, label_nc: int, height: int, width: int, extra: int = 1) -> torch.Tensor:
    """One-hot labels plus ``extra`` random binary channels (dontcare / instance edges)."""
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(0, label_nc, (n, height, width), generator=gen)
    one_hot = F.one_hot(labels, label_nc).permute(0, 3, 1, 2).float()
    extras = torch.randint(0, 2, (n, extra, height, width), generator=gen).float()
    return torch.cat([one_hot, extras], 1)


# A small NVlabs configuration per norm_G / upsampling mode: (reference args, fastpix options,
# input size). crop_size and aspect_ratio give NVlabs' fixed latent grid; fastpix derives the
# same grid from the input size.
SMALL = [
    pytest.param(
        dict(semantic_nc=6, ngf=4, num_upsampling_layers="more", crop_size=64, aspect_ratio=1.0),
        dict(label_nc=5, ngf=4, num_upsampling_layers="more"),
        (64, 64),
        id="spectral-batch-more",
    ),
    pytest.param(
        dict(semantic_nc=6, ngf=4, num_upsampling_layers="normal", norm_g="spadeinstance3x3",
             crop_size=64, aspect_ratio=2.0),
        dict(label_nc=4, ngf=4, num_upsampling_layers="normal", contain_dontcare_label=True,
             norm="instance"),
        (32, 64),
        id="instance-no-spectral-dontcare-edges",
    ),
]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Full size
# --------------------------------------------------------------------------------------------


def test_cityscapes_generator_has_the_reference_keys_and_shapes():
    with torch.device("meta"):
        reference = ref.SPADEGenerator(36, 64, "more", crop_size=512, aspect_ratio=2.0)
        model = SPADEGenerator(**compat.CITYSCAPES)
    assert key_shapes(model.state_dict()) == key_shapes(reference.state_dict())
    keys = model.state_dict()
    assert keys["fc.weight"].shape == (1024, 36, 3, 3)
    assert keys["up_3.conv_s.weight_orig"].shape == (64, 128, 1, 1)
    assert "up_3.conv_s.bias" not in keys and "head_0.conv_s.weight_orig" not in keys
    assert keys["up_0.norm_s.mlp_shared.0.weight"].shape == (128, 36, 3, 3)
    assert not any(k.startswith("up_4.") for k in keys)  # only "most" has up_4


def test_most_upsampling_generator_has_the_reference_keys():
    with torch.device("meta"):
        reference = ref.SPADEGenerator(20, 64, "most", crop_size=1024, aspect_ratio=2.0)
        model = SPADEGenerator(label_nc=19, use_instance=True, num_upsampling_layers="most")
    assert key_shapes(model.state_dict()) == key_shapes(reference.state_dict())
    assert model.state_dict()["conv_img.weight"].shape == (3, 32, 3, 3)


def test_coco_generator_parameter_count_is_the_published_one():
    # NVlabs prints "Total number of parameters: 97.5 million" for its generator with 183
    # semantic channels (COCO-Stuff's 182 labels + instance edges; NVlabs/SPADE issue #133).
    with torch.device("meta"):
        model = SPADEGenerator(label_nc=182, use_instance=True)
    assert f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}" == "97.5"


def test_cityscapes_discriminator_has_the_reference_keys():
    with torch.device("meta"):
        reference = ref.MultiscaleDiscriminator(35 + 1 + 3)
        model = MultiscaleDiscriminator(input_nc=39)
    assert key_shapes(model.state_dict()) == key_shapes(reference.state_dict())


# --------------------------------------------------------------------------------------------
# Loading checkpoints
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reference_args", "options", "size"), SMALL)
def test_loaded_generator_computes_the_reference_output(tmp_path, reference_args, options, size):
    reference = ref.randomize(ref.SPADEGenerator(**reference_args)).eval()
    path = tmp_path / "latest_net_G.pth"
    torch.save(reference.state_dict(), path)
    options = {"use_instance": True, **options}
    x = semantic_map(1, options["label_nc"], *size, extra=reference_args["semantic_nc"] - options["label_nc"])  # fmt: skip
    with torch.no_grad():
        expected = reference(x)
        folded = compat.load_generator(path, **options)
        kept = compat.load_generator(path, **options, fold_spectral_norm=False)
        assert not folded.training and not folded.use_spectral_norm
        assert not any(k.endswith("weight_orig") for k in folded.state_dict())
        torch.testing.assert_close(folded(x), expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(kept(x), expected, atol=1e-6, rtol=0)
    assert expected.shape == (1, 3, *size)
    spectral = reference_args.get("norm_g", "spectral").startswith("spectral")
    assert kept.use_spectral_norm == spectral


def test_folding_is_torchs_eval_weight():
    conv = ref.randomize(torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 5, 3)))
    folded = compat.spectral_weight(conv.weight_orig, conv.weight_u, conv.weight_v)
    plain = remove_spectral_norm(copy.deepcopy(conv).eval())
    assert torch.equal(folded, plain.weight.detach())
    sigma = conv.weight_u @ conv.weight_orig.reshape(5, -1) @ conv.weight_v  # uᵀ W v by hand
    torch.testing.assert_close(folded * sigma, conv.weight_orig.detach())


def test_fold_spectral_norm_keeps_eval_outputs():
    torch.manual_seed(0)
    model = SPADEGenerator(label_nc=3, ngf=4).eval()
    x = semantic_map(1, 3, 32, 32, extra=0)
    with torch.no_grad():
        before = model(x)
        fold_spectral_norm(model)
        after = model(x)
    assert not model.use_spectral_norm
    assert not any(k.endswith(("weight_orig", "weight_u", "weight_v")) for k in model.state_dict())
    torch.testing.assert_close(after, before, atol=1e-6, rtol=0)


def test_wrapper_prefixes_and_old_batch_norms_are_tolerated():
    reference = ref.randomize(ref.SPADEGenerator(4, 4, "normal", crop_size=32)).eval()
    state = {f"module.{k}": v for k, v in reference.state_dict().items() if "num_batches" not in k}
    model = compat.load_generator(state, label_nc=3, ngf=4, num_upsampling_layers="normal")
    x = semantic_map(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-6, rtol=0)
    assert int(model.head_0.norm_0.param_free_norm.num_batches_tracked) == 0


def test_export_round_trips_into_the_reference(tmp_path):
    torch.manual_seed(0)
    model = SPADEGenerator(label_nc=3, ngf=4, use_instance=True).eval()
    path = tmp_path / "out_net_G.pth"
    state = compat.export_generator(model, path)
    reference = ref.SPADEGenerator(4, 4, "normal", crop_size=32).eval()
    reference.load_state_dict(torch.load(path, weights_only=True), strict=True)
    assert list(state) == list(reference.state_dict())
    x = semantic_map(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="no spectral norm"):
        compat.export_generator(fold_spectral_norm(model))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out_net_G.pth"]  # no temp file left


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_checkpoint() -> dict:
    return ref.randomize(ref.SPADEGenerator(6, 8, "more", crop_size=128, aspect_ratio=2.0)).state_dict()  # fmt: skip


def test_wrong_label_count_names_the_shape_and_the_fit(small_checkpoint):
    with pytest.raises(ValueError, match=r"fc\.weight has shape \(128, 6, 3, 3\)") as err:
        compat.load_generator(small_checkpoint, label_nc=35, ngf=8)
    assert "use_instance = 6 (asked for 36)" in str(err.value)


def test_wrong_width_and_upsampling_are_named(small_checkpoint):
    with pytest.raises(ValueError, match=r"ngf=8"):
        compat.load_generator(small_checkpoint, label_nc=5, ngf=16)
    with pytest.raises(ValueError, match=r"missing key.*up_4\..*num_upsampling_layers='normal or more'"):  # fmt: skip
        compat.load_generator(small_checkpoint, label_nc=5, ngf=8, num_upsampling_layers="most")


def test_missing_and_unexpected_keys_are_listed(small_checkpoint):
    state = dict(small_checkpoint)
    del state["up_1.norm_s.mlp_beta.bias"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"1 missing key \(up_1\.norm_s\.mlp_beta\.bias\); 1 unexpected key \(extra\.weight\)"):  # fmt: skip
        compat.load_generator(state, label_nc=5, ngf=8)


def test_instance_norm_checkpoint_asked_as_batch_norm(small_checkpoint):
    state = {k: v for k, v in small_checkpoint.items() if "param_free_norm" not in k}
    with pytest.raises(ValueError, match=r"missing keys .*running_mean.*norm='instance'"):
        compat.load_generator(state, label_nc=5, ngf=8)


def test_not_a_spade_checkpoint(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    torch.save({"model.model.0.weight": torch.zeros(64, 3, 4, 4)}, path)
    with pytest.raises(ValueError, match="not a SPADE generator state dict"):
        compat.load_generator(path)
    with pytest.raises(ValueError, match="not a SPADE generator state dict"):
        compat.describe_generator(path)
    with pytest.raises(FileNotFoundError, match="SPADE generator checkpoint not found"):
        compat.load_generator(tmp_path / "missing.pth")
    (tmp_path / "broken.pth").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        compat.load_generator(tmp_path / "broken.pth")


def test_describe_generator(small_checkpoint):
    assert compat.describe_generator(small_checkpoint) == {
        "ngf": 8,
        "semantic_nc": 6,
        "num_upsampling_layers": "normal or more",
        "spectral_norm": True,
        "norm": "batch",
    }
