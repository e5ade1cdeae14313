"""fastpix.compat.pix2pix against an independent rebuild of the official networks.

``reference_pix2pix.py`` (beside this file) rebuilds the reference nets from the facts in
shared/reference/pix2pix.md with plain torch layers in the reference's module structure; its
state dicts must carry exactly the keys listed in tests/data/*_state_dict_keys.txt (copies of
the official checkpoints' key lists), which makes it a faithful oracle for the checkpoint
layout. Outputs are compared in eval mode at ≤ 1e-5 (they come out bit-identical).
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

import fastpix.models as fm
from fastpix.compat import pix2pix as compat

DATA = Path(__file__).parent / "data"


def _load_reference_module():
    path = Path(__file__).with_name("reference_pix2pix.py")
    spec = importlib.util.spec_from_file_location("reference_pix2pix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference_module()


def key_lines(state: dict) -> list[str]:
    return [f"{k}\t{tuple(v.shape)}" for k, v in state.items()]


def assert_same_output(reference: nn.Module, model: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        expected = reference(x.clone())  # the reference activations work in place
        got = model(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------
# The official checkpoint layouts at full size
# --------------------------------------------------------------------------------------------


def test_reference_rebuild_has_the_official_key_lists():
    with torch.device("meta"):
        g, d = ref.define_G("unet_256"), ref.define_D("basic")
    assert (
        key_lines(g.state_dict())
        == (DATA / "unet256_state_dict_keys.txt").read_text().split("\n")[:-1]
    )
    assert (
        key_lines(d.state_dict())
        == (DATA / "D_basic_state_dict_keys.txt").read_text().split("\n")[:-1]
    )


def test_full_size_unet_256_checkpoint_file_round_trip(tmp_path):
    reference = ref.randomize(ref.define_G("unet_256", use_dropout=True)).eval()
    path = tmp_path / "latest_net_G.pth"
    torch.save(reference.state_dict(), path)

    model = compat.load_generator(path, netG="unet_256", norm="batch", use_dropout=True)
    assert isinstance(model, fm.UnetGenerator) and not model.training
    assert_same_output(reference, model, torch.randn(1, 3, 256, 256))

    exported = compat.export_generator(model)
    assert (
        key_lines(exported) == (DATA / "unet256_state_dict_keys.txt").read_text().split("\n")[:-1]
    )
    for key, value in reference.state_dict().items():
        assert torch.equal(exported[key], value), key


def test_full_size_basic_discriminator_round_trip(tmp_path):
    reference = ref.randomize(ref.define_D("basic")).eval()
    path = tmp_path / "latest_net_D.pth"
    torch.save(reference.state_dict(), path)
    model = compat.load_discriminator(path)
    x = torch.randn(1, 6, 256, 256)
    assert_same_output(reference, model, x)
    assert model(x).shape == (1, 1, 30, 30)

    compat.export_discriminator(model, tmp_path / "out_net_D.pth")
    reread = torch.load(tmp_path / "out_net_D.pth", weights_only=True)
    expected_lines = (DATA / "D_basic_state_dict_keys.txt").read_text().split("\n")[:-1]
    assert key_lines(reread) == expected_lines
    for key, value in reference.state_dict().items():
        assert torch.equal(reread[key], value), key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest_net_D.pth", "out_net_D.pth"]


# --------------------------------------------------------------------------------------------
# Every architecture option, at small widths
# --------------------------------------------------------------------------------------------

GENERATOR_CASES = [
    # netG, norm, use_dropout, input side
    ("unet_256", "batch", True, 256),
    ("unet_256", "none", False, 256),
    ("unet_128", "instance", True, 128),
    ("unet_128", "batch", False, 128),
    ("resnet_9blocks", "instance", False, 32),
    ("resnet_9blocks", "batch", True, 32),
    ("resnet_6blocks", "none", True, 36),
    ("resnet_6blocks", "instance", False, 40),
]


@pytest.mark.parametrize(("netG", "norm", "use_dropout", "side"), GENERATOR_CASES)
def test_generator_import_matches_reference_and_exports_back(netG, norm, use_dropout, side):
    reference = ref.randomize(ref.define_G(netG, ngf=4, norm=norm, use_dropout=use_dropout))
    reference.eval()
    model = compat.load_generator(
        reference.state_dict(), netG=netG, norm=norm, ngf=4, use_dropout=use_dropout
    )
    assert_same_output(reference, model, torch.randn(2, 3, side, side))

    # export → the official network loads it strictly and computes the same
    fresh = ref.define_G(netG, ngf=4, norm=norm, use_dropout=use_dropout).eval()
    exported = compat.export_generator(model)
    assert list(exported) == list(fresh.state_dict())
    fresh.load_state_dict(exported, strict=True)
    assert_same_output(fresh, model, torch.randn(1, 3, side, side))


DISCRIMINATOR_CASES = [
    # netD, n_layers, norm
    ("basic", 3, "instance"),
    ("n_layers", 0, "batch"),
    ("n_layers", 1, "batch"),
    ("n_layers", 2, "none"),
    ("n_layers", 4, "instance"),
    ("n_layers", 5, "batch"),
    ("pixel", 3, "batch"),
    ("pixel", 3, "instance"),
    ("pixel", 3, "none"),
]


@pytest.mark.parametrize(("netD", "n_layers", "norm"), DISCRIMINATOR_CASES)
def test_discriminator_import_matches_reference_and_exports_back(netD, n_layers, norm):
    reference = ref.randomize(ref.define_D(netD, ndf=4, n_layers=n_layers, norm=norm)).eval()
    model = compat.load_discriminator(
        reference.state_dict(), netD=netD, n_layers=n_layers, norm=norm, ndf=4
    )
    assert_same_output(reference, model, torch.randn(2, 6, 200, 200))
    fresh = ref.define_D(netD, ndf=4, n_layers=n_layers, norm=norm)
    fresh.load_state_dict(compat.export_discriminator(model), strict=True)
    assert_same_output(fresh.eval(), model, torch.randn(1, 6, 96, 128))


def test_fastpix_trained_generator_exports_and_reloads_identically():
    torch.manual_seed(0)
    model = fm.create("unet_128", ngf=4)
    model(torch.randn(2, 3, 128, 128))  # train-mode step: running statistics move
    reloaded = compat.load_generator(compat.export_generator(model), netG="unet_128", ngf=4)
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key


# --------------------------------------------------------------------------------------------
# Tolerated variations of real checkpoints
# --------------------------------------------------------------------------------------------


def test_old_instance_norm_running_stats_are_dropped():
    old = ref.randomize(ref.define_G("unet_128", ngf=4, norm="old_instance"))
    state = old.state_dict()
    assert any(k.endswith("running_mean") for k in state)  # what old checkpoints carry
    model = compat.load_generator(state, netG="unet_128", norm="instance", ngf=4)
    # the reference drops those statistics on load: the network is the current instance net
    current = ref.define_G("unet_128", ngf=4, norm="instance")
    current.load_state_dict(
        {k: v for k, v in state.items() if "running" not in k and "num_batches" not in k}
    )
    assert_same_output(current.eval(), model, torch.randn(1, 3, 128, 128))


def test_wrapper_prefixes_and_missing_batch_counters_are_tolerated():
    reference = ref.randomize(ref.define_D("basic", ndf=4)).eval()
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    model = compat.load_discriminator(state, ndf=4)
    assert_same_output(reference, model, torch.randn(1, 6, 64, 64))


def test_resnet_dropout_is_read_from_the_checkpoint():
    with_dropout = ref.define_G("resnet_6blocks", ngf=4, use_dropout=True).state_dict()
    without = ref.define_G("resnet_6blocks", ngf=4, use_dropout=False).state_dict()
    assert compat.load_generator(with_dropout, netG="resnet_6blocks", ngf=4).use_dropout
    assert not compat.load_generator(without, netG="resnet_6blocks", ngf=4).use_dropout


# --------------------------------------------------------------------------------------------
# Errors name what is wrong and what would match
# --------------------------------------------------------------------------------------------


def test_wrong_depth_suggests_the_matching_netG():
    state = ref.define_G("unet_128", ngf=4).state_dict()
    with pytest.raises(ValueError, match="unexpected|missing") as err:
        compat.load_generator(state, netG="unet_256", ngf=4)
    assert "looks like a unet_128 checkpoint; pass netG='unet_128'" in str(err.value)


def test_wrong_norm_suggests_the_matching_norm():
    state = ref.define_G("unet_256", ngf=4, norm="instance").state_dict()
    with pytest.raises(ValueError, match=r"missing key.*model\.model\.1\.model\.2\.weight") as err:
        compat.load_generator(state, ngf=4)
    assert "pass norm='instance'" in str(err.value)


def test_wrong_width_names_the_key_and_shapes():
    state = ref.define_D("basic", ndf=8).state_dict()
    with pytest.raises(ValueError, match=r"model\.0\.weight has shape \(8, 6, 4, 4\)") as err:
        compat.load_discriminator(state, ndf=4)
    assert "pass ndf=8" in str(err.value)


def test_discriminator_given_as_generator():
    state = ref.define_D("n_layers", n_layers=2, ndf=4).state_dict()
    with pytest.raises(ValueError, match="looks like a discriminator checkpoint"):
        compat.load_generator(state, ngf=4)
    with pytest.raises(ValueError, match="pass netD='n_layers', n_layers=2"):
        compat.load_discriminator(state, ndf=4)


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        compat.load_generator(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00 definitely not a zip or pickle")
    with pytest.raises(ValueError, match=r"junk.pth: not a torch checkpoint: .*b'\\x00 de'"):
        compat.load_generator(junk)
    truncated = tmp_path / "truncated.pth"
    torch.save({"w": torch.zeros(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:600])
    with pytest.raises(ValueError, match="truncated.pth is not a PyTorch checkpoint readable"):
        compat.load_generator(truncated)
    nested = tmp_path / "trainer.pth"
    torch.save({"epoch": torch.tensor(3), "netG": {"w": torch.zeros(1)}}, nested)
    with pytest.raises(ValueError, match=r"nests dicts under \['netG'\]"):
        compat.load_generator(nested)
    listing = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listing)
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        compat.load_discriminator(listing)
    with pytest.raises(ValueError, match="unknown netG 'unet_64'"):
        compat.load_generator({}, netG="unet_64")


def test_export_errors_leave_no_file(tmp_path):
    model = fm.create("pixelgan", ndf=4)
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        compat.export_discriminator(model, tmp_path / "no" / "such" / "D.pth")
    with pytest.raises(TypeError, match="expected a UnetGenerator or ResnetGenerator"):
        compat.export_generator(model)
    assert list(tmp_path.iterdir()) == []


def test_describe_checkpoint():
    g = ref.define_G("resnet_9blocks", ngf=4, norm="instance", use_dropout=True).state_dict()
    assert compat.describe_checkpoint(g) == {
        "kind": "generator", "netG": "resnet_9blocks", "n_blocks": 9, "norm": "instance",
        "ngf": 4, "input_nc": 3, "output_nc": 3, "use_dropout": True,
    }  # fmt: skip
    d = ref.define_D("pixel", ndf=4, input_nc=4).state_dict()
    assert compat.describe_checkpoint(d) == {
        "kind": "discriminator", "netD": "pixel", "norm": "batch", "ndf": 4, "input_nc": 4,
    }  # fmt: skip
    with pytest.raises(ValueError, match="not a pix2pix generator or discriminator"):
        compat.describe_checkpoint({"conv.weight": torch.zeros(1, 1, 1, 1)})


# --------------------------------------------------------------------------------------------
# Inference modes (pix2pix.md §1.8)
# --------------------------------------------------------------------------------------------


def _bn_to_in_reference(net: nn.Module) -> nn.Module:
    """The reference fact's construction: every BatchNorm2d replaced by
    InstanceNorm2d(affine=True) carrying the BN γ/β."""
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                instance = nn.InstanceNorm2d(child.num_features, affine=True)
                instance.weight.data.copy_(child.weight.data)
                instance.bias.data.copy_(child.bias.data)
                setattr(parent, name, instance)
    return net


def test_paper_mode_is_train_mode_batch_norm_and_equals_the_instance_norm_net():
    reference = ref.randomize(ref.define_G("unet_256", ngf=4, use_dropout=False))
    x = torch.randn(1, 3, 256, 256)
    as_instance_norm = _bn_to_in_reference(reference).eval()
    reference.train()  # the reference's test.py without --eval
    with torch.no_grad():
        train_mode = reference(x.clone())
        torch.testing.assert_close(as_instance_norm(x.clone()), train_mode, atol=0, rtol=0)

    model = compat.load_generator(reference.state_dict(), ngf=4, use_dropout=False)
    statistics = {k: v.clone() for k, v in model.state_dict().items()}
    fm.set_inference_mode(model, "paper")
    assert_same_output(as_instance_norm, model, x)
    for key, value in model.state_dict().items():  # unlike the reference, no stats update
        assert torch.equal(value, statistics[key]), key
    assert_same_output(as_instance_norm, fm.to_instance_norm(model), x)

    fm.set_inference_mode(model, "eval")
    with torch.no_grad():
        assert (model(x) - train_mode).abs().max() > 1e-2  # running statistics differ


def test_paper_mode_dropout_follows_the_reference_draws():
    reference = ref.randomize(ref.define_G("unet_256", ngf=4, use_dropout=True))
    model = compat.load_generator(reference.state_dict(), ngf=4, use_dropout=True)
    fm.set_inference_mode(model, "paper", dropout=True)
    reference.train()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        torch.manual_seed(7)
        expected = reference(x.clone())
        torch.manual_seed(7)
        got = model(x)
        torch.manual_seed(8)
        other = model(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert not torch.equal(got, other)  # dropout is live
    fm.set_inference_mode(model, "paper")
    with torch.no_grad():
        assert torch.equal(model(x), model(x))  # without it, deterministic


def test_cli_inspect_prints_the_loading_call(tmp_path, capsys):
    import argparse

    from fastpix.models import cli

    path = tmp_path / "latest_net_G.pth"
    torch.save(ref.define_G("unet_128", ngf=4, norm="instance").state_dict(), path)
    parser = argparse.ArgumentParser(prog="fastpix")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", "inspect", str(path)])
    assert args.func(args) == 0
    call = capsys.readouterr().out.splitlines()[-1]
    assert call == (
        f"fastpix.compat.pix2pix.load_generator({str(path)!r}, netG='unet_128', "
        "norm='instance', ngf=4, input_nc=3, output_nc=3)"
    )
    import fastpix

    loaded = eval(call, {"fastpix": fastpix})  # the printed call works as printed
    assert isinstance(loaded, fm.UnetGenerator) and loaded.norm == "instance"
