"""Training configurations: one dataclass per trainer, every default commented, and presets.

    >>> from fastpix.train.config import get_preset
    >>> config = get_preset("pix2pix-cityscapes", data="data/cityscapes", out="runs/p2p")
    >>> config.lr, config.batch_size, config.epochs, config.n_epochs_decay
    (0.0002, 1, 200, 100)

``SegmentationConfig`` drives ``fastpix.train.segmentation`` (photo → class map with a
segmenter), ``Pix2PixConfig`` drives ``fastpix.train.pix2pix`` (a conditional GAN, photo →
colour mask or colour mask → photo) and ``SpadeConfig`` drives ``fastpix.train.spade`` (class
map → photo with SPADE). All inherit the data, schedule, speed and logging
fields of ``TrainConfig``. ``PRESETS`` holds the recipes of the seeds and of the pix2pix
reference; ``get_preset(name, **overrides)`` returns one with fields replaced.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Union

LOADERS = ("auto", "native", "pil")
AMP_MODES = ("auto", "bf16", "fp16", "off")
LR_POLICIES = ("constant", "linear", "step", "cosine")
GAN_MODES = ("vanilla", "lsgan")
DIRECTIONS = ("AtoB", "BtoA")
OUTPUTS = ("auto", "color_mask", "photo")
INFERENCE_MODES = ("paper", "eval")
SEGMENTATION_LOSSES = ("ce", "ce+dice", "ce+lovasz")  # cross-entropy, plus a region loss
CLASS_WEIGHTINGS = ("none", "median_freq", "sqrt_inv")


@dataclass
class TrainConfig:
    """What every trainer shares: data, schedule, speed features, logging and checkpoints."""

    # -- data ----------------------------------------------------------------------------------
    data: str | None = None  # data folder; layouts are those of fastpix.data.list_pairs
    layout: str = "kaggle"  # kaggle (photo | mask .jpg), aligned (pix2pix A|B) or cityscapes
    train_split: str = "train"
    val_split: str | None = "val"  # None: no validation (no best checkpoint either)
    label_set: str = "trainid"  # trainid (19 classes), labelid (34), road (2) or a registered set
    size: int = 256  # side of the square training crop and of validation images, pixels
    load_size: int | None = None  # resize each half to this square first; None: to `size`
    flip: bool = True  # random horizontal flip of training pairs (p = 1/2)
    loader: str = "auto"  # auto (native PairLoader, PIL where it cannot) | native | pil
    workers: int = (
        2  # decoder threads (native; 0: all cores) or DataLoader processes (pil; 0: none)
    )
    max_distance: float | None = None  # colour masks: farther than this from every colour → ignore
    # -- schedule ------------------------------------------------------------------------------
    epochs: int = 1  # passes over the training split
    steps: int | None = None  # stop after this many optimizer steps (None: after `epochs`)
    time_budget: float = 0.0  # seconds of training: the step count is chosen from the speed
    # measured over the first steps, within `steps` and `epochs` (0: off)
    batch_size: int = 1  # per process (per GPU under torchrun)
    lr: float = 1e-3  # Adam learning rate
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas
    weight_decay: float = 0.0  # Adam (L2) weight decay
    lr_policy: str = "constant"  # constant | linear | step | cosine
    n_epochs_decay: int = 0  # linear: the last epochs, over which lr falls linearly (reference)
    lr_step: int = 10_000  # step: multiply lr by lr_gamma every lr_step optimizer steps
    lr_gamma: float = 0.75  # step: the factor
    warmup_steps: int = 0  # cosine: linear warm-up steps before the cosine decay to 0
    # -- speed ---------------------------------------------------------------------------------
    device: str = "auto"  # auto (cuda:LOCAL_RANK when CUDA is present, else cpu) | cpu | cuda[:i]
    amp: str = "auto"  # auto (CUDA: bf16 where supported, else fp16 + grad scaler; CPU: off)
    channels_last: bool | None = None  # None: on for CUDA, off on CPU
    compile: bool = False  # torch.compile the networks
    threads: int | None = None  # torch CPU threads (None: torch's default)
    # -- run -----------------------------------------------------------------------------------
    out: str = "runs/train"  # run folder: checkpoints/, metrics.jsonl, plots, samples/
    seed: int = 0  # weights, dropout and data order/jitter
    log_every: int = 10  # a train record in metrics.jsonl every N steps
    sample_every: int = 500  # a sample grid (and GIF frame) every N steps; 0: off
    num_samples: int = 4  # rows of a sample grid (fixed validation pairs)
    checkpoint_every: int = 1000  # write checkpoints/last.pt every N steps (and at validations)
    val_every: int = 1  # validate (and write last.pt) every N epochs and after the last step
    max_nonfinite: int = 10  # stop after this many consecutive non-finite losses
    progress: bool = True  # tqdm progress bars (rank 0)

    def check(self) -> None:
        """Raise ValueError naming the field when a value is out of range."""
        _choice(self, "loader", LOADERS)
        _choice(self, "amp", AMP_MODES)
        _choice(self, "lr_policy", LR_POLICIES)
        for name in ("size", "epochs", "batch_size", "log_every", "num_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "workers",
            "sample_every",
            "checkpoint_every",
            "warmup_steps",
            "n_epochs_decay",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1 or None, got {self.steps}")
        if not self.time_budget >= 0:
            raise ValueError(f"time_budget must be >= 0 seconds (0: off), got {self.time_budget}")
        if self.load_size is not None and self.load_size < self.size:
            raise ValueError(f"load_size {self.load_size} is smaller than size {self.size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.lr_policy == "linear" and self.n_epochs_decay > self.epochs:
            raise ValueError(
                f"n_epochs_decay {self.n_epochs_decay} is more than epochs {self.epochs}"
            )
        if self.lr_policy == "step" and (self.lr_step < 1 or not 0 < self.lr_gamma <= 1):
            raise ValueError(
                f"step policy needs lr_step >= 1 and 0 < lr_gamma <= 1, got {self.lr_step}, "
                f"{self.lr_gamma}"
            )
        if self.max_nonfinite < 1:
            raise ValueError(f"max_nonfinite must be >= 1, got {self.max_nonfinite}")

    def to_dict(self) -> dict[str, Any]:
        """Plain containers only (JSON and ``torch.load(weights_only=True)`` safe)."""
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        data["task"] = TASK_OF[type(self)]
        return data


@dataclass
class SegmentationConfig(TrainConfig):
    """A segmenter (U-Net, ResNet-34 FCN) trained with cross-entropy (or BCE when binary)."""

    model: str = "unet"  # a fastpix.models name: unet, fcn_resnet34, ...
    model_options: dict[str, Any] = field(default_factory=dict)  # num_classes is set for you
    binary: bool = False  # one logit + BCE for a 2-class label set (seed 004's road mask)
    loss: str = "ce"  # ce | ce+dice (soft Dice) | ce+lovasz (Lovász-softmax), region losses
    # over the classes present in the batch (fastpix.train.losses)
    region_weight: float = 1.0  # weight of the region loss added to the cross-entropy
    class_weights: str = "none"  # cross-entropy class weights from the train split's label
    # frequencies: none | median_freq | sqrt_inv
    ce_top_k: float = 1.0  # cross-entropy over this fraction of the hardest pixels (1: all)

    def check(self) -> None:
        super().check()
        _choice(self, "loss", SEGMENTATION_LOSSES)
        _choice(self, "class_weights", CLASS_WEIGHTINGS)
        if not 0.0 < self.ce_top_k <= 1.0:
            raise ValueError(f"ce_top_k must be in (0, 1], got {self.ce_top_k}")
        if self.region_weight < 0:
            raise ValueError(f"region_weight must be >= 0, got {self.region_weight}")
        if self.binary and (
            self.loss != "ce" or self.class_weights != "none" or self.ce_top_k != 1.0
        ):
            raise ValueError(
                "binary training uses plain BCE: loss must be 'ce', class_weights 'none' and "
                "ce_top_k 1"
            )


@dataclass
class Pix2PixConfig(TrainConfig):
    """A conditional GAN: G(A) → B judged by D(cat(A, ·)), plus λ·L1 (pix2pix, seed-001 CGAN)."""

    generator: str = "unet_256"  # unet_256, unet_128, resnet_9blocks, cgan_g (fastpix.models)
    generator_options: dict[str, Any] = field(default_factory=dict)
    discriminator: str = "patchgan"  # patchgan (70×70 with n_layers=3), pixelgan, cgan_d
    discriminator_options: dict[str, Any] = field(default_factory=dict)
    direction: str = "AtoB"  # AtoB: left half → right half (photo → mask on Cityscapes pairs)
    output: str = "auto"  # what G draws: color_mask | photo | auto (AtoB: color_mask, BtoA: photo)
    gan_mode: str = "vanilla"  # vanilla (BCE with logits) | lsgan (least squares)
    lambda_l1: float = 100.0  # weight of the L1 term of the G loss (0: GAN loss only)
    d_loss_scale: float = 0.5  # D loss = scale · (fake + real); the reference halves it
    inference_mode: str = "paper"  # validation/eval: paper (batch statistics, no dropout) | eval
    segmenter: str | None = None  # photo output: segmentation checkpoint for the FCN-score
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    load_size: int | None = 286
    sample_every: int = 500

    def resolved_output(self) -> str:
        if self.output != "auto":
            return self.output
        return "color_mask" if self.direction == "AtoB" else "photo"

    def check(self) -> None:
        super().check()
        _choice(self, "direction", DIRECTIONS)
        _choice(self, "output", OUTPUTS)
        _choice(self, "gan_mode", GAN_MODES)
        _choice(self, "inference_mode", INFERENCE_MODES)
        if self.lambda_l1 < 0 or self.d_loss_scale <= 0:
            raise ValueError(
                f"lambda_l1 must be >= 0 and d_loss_scale > 0, got {self.lambda_l1}, "
                f"{self.d_loss_scale}"
            )


@dataclass
class SpadeConfig(TrainConfig):
    """SPADE (seed 003's label → photo generator) against its multi-scale PatchGAN, trained
    as NVlabs trains it: hinge GAN loss, λ_feat · feature matching, λ_vgg · VGG loss when
    ``vgg_weights`` is given, Adam with TTUR."""

    generator_options: dict[str, Any] = field(default_factory=dict)  # SPADEGenerator options;
    # label_nc is set from the label set
    discriminator_options: dict[str, Any] = field(default_factory=dict)  # MultiscaleDiscriminator
    # options; input_nc (semantic channels + 3) is set for you
    ttur: bool = True  # two time-scale update rule: G at lr/2, D at 2·lr (NVlabs' default)
    lambda_feat: float = 10.0  # weight of discriminator feature matching (0: off)
    lambda_vgg: float = 10.0  # weight of the VGG-19 perceptual loss (used with vgg_weights)
    vgg_weights: str | None = None  # torchvision vgg19 .pth for the VGG loss; None: no VGG loss
    reuse_fake: bool = False  # D's step scores G's fake instead of regenerating it (NVlabs: off)
    segmenter: str | None = None  # segmentation checkpoint for the validation FCN-score
    lr: float = 2e-4  # NVlabs' --lr: with TTUR, G at 1e-4 and D at 4e-4
    betas: tuple[float, float] = (0.0, 0.9)  # NVlabs with TTUR; its --no_TTUR uses (0.5, 0.999)
    load_size: int | None = None  # NVlabs' Cityscapes mode resizes without cropping
    sample_every: int = 500

    def check(self) -> None:
        super().check()
        if self.lambda_feat < 0 or self.lambda_vgg < 0:
            raise ValueError(
                f"lambda_feat and lambda_vgg must be >= 0, got {self.lambda_feat}, "
                f"{self.lambda_vgg}"
            )
        if self.weight_decay:
            raise ValueError(f"SPADE's optimizers have no weight decay, got {self.weight_decay}")
        for name in ("label_nc", "semantic_nc"):
            if name in self.generator_options:
                raise ValueError(f"generator option {name} is set from the label set; remove it")
        if "input_nc" in self.discriminator_options:
            raise ValueError("discriminator option input_nc is set for you; remove it")


AnyConfig = Union[SegmentationConfig, Pix2PixConfig, SpadeConfig]
TASK_OF: dict[type, str] = {
    SegmentationConfig: "segmentation",
    Pix2PixConfig: "pix2pix",
    SpadeConfig: "spade",
}
CONFIG_OF: dict[str, type] = {task: cls for cls, task in TASK_OF.items()}


def _choice(config: TrainConfig, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def config_from_dict(data: dict[str, Any]) -> AnyConfig:
    """Rebuild a config saved by ``to_dict`` (``config.json``, checkpoints)."""
    data = dict(data)
    task = data.pop("task", None)
    if task not in CONFIG_OF:
        raise ValueError(f"config has task {task!r}; expected one of {', '.join(CONFIG_OF)}")
    cls = CONFIG_OF[task]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {task} config fields: {', '.join(unknown)}")
    if "betas" in data:
        data["betas"] = tuple(data["betas"])
    return cls(**data)


def replace(config: AnyConfig, **overrides: Any) -> AnyConfig:
    """A copy of ``config`` with fields replaced; unknown names raise ValueError."""
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(
            f"unknown {TASK_OF[type(config)]} config fields: {', '.join(unknown)}; valid: "
            + ", ".join(sorted(names))
        )
    return dataclasses.replace(config, **overrides)


# -- presets ---------------------------------------------------------------------------------


def _unet_seed001() -> SegmentationConfig:
    # Seed 001's U-Net baseline: 64..1024 channels at 256×256, cross-entropy, Adam. The seed
    # shows neither the learning rate nor the batch size; these are common choices.
    return SegmentationConfig(
        model="unet", model_options={"base_channels": 64}, size=256, batch_size=8, lr=1e-3,
        epochs=30,
    )  # fmt: skip


def _road_unet_seed004() -> SegmentationConfig:
    # Seed 004: binary road mask, 128×128 inputs, sigmoid output trained with BCE, Adam
    # (Keras default lr 1e-3), 25 epochs.
    return SegmentationConfig(
        model="unet", model_options={"base_channels": 64}, label_set="road", binary=True,
        size=128, batch_size=16, lr=1e-3, epochs=25,
    )  # fmt: skip


def _fcn_resnet34_seed003() -> SegmentationConfig:
    # Seed 003: ResNet-34 FCN trained end to end, Adam lr 1e-4, batch 32, 25 epochs. Give an
    # ImageNet resnet34 .pth as model_options["pretrained_backbone"] for the seed's transfer.
    return SegmentationConfig(
        model="fcn_resnet34", size=256, batch_size=32, lr=1e-4, epochs=25,
    )  # fmt: skip


def _pix2pix_cityscapes() -> Pix2PixConfig:
    # The reference recipe: unet_256 + 70×70 PatchGAN, vanilla GAN + 100·L1, Adam 2e-4
    # (0.5, 0.999), batch 1, resize 286 → crop 256 + flip, 100 epochs + 100 of linear decay.
    # Labels → photo on the Cityscapes pairs (the paper's FCN-score task) is direction BtoA.
    return Pix2PixConfig(
        generator="unet_256", discriminator="patchgan", direction="BtoA", epochs=200,
        n_epochs_decay=100, lr_policy="linear", batch_size=1, size=256, load_size=286,
    )  # fmt: skip


def _pix2pix_seed000() -> Pix2PixConfig:
    # Seed 000: photo → colour mask, 50,000 steps at batch 1, lr 2e-4 × 0.75 every 10,000 steps.
    return Pix2PixConfig(
        generator="unet_256", discriminator="patchgan", direction="AtoB", steps=50_000,
        epochs=10_000, lr_policy="step", lr_step=10_000, lr_gamma=0.75, batch_size=1,
        sample_every=5_000,
    )  # fmt: skip


def _cgan_seed001() -> Pix2PixConfig:
    # Seed 001's CGAN: DCGAN-style G and D, photo → colour mask at 256×256, GAN loss only
    # (no L1), D loss = real + fake (not halved). The seed trained 100 of 200 epochs; its
    # learning rate and batch size are not shown (DCGAN's 2e-4, (0.5, 0.999) used here).
    return Pix2PixConfig(
        generator="cgan_g", discriminator="cgan_d", direction="AtoB", lambda_l1=0.0,
        d_loss_scale=1.0, epochs=100, batch_size=16, load_size=None, flip=False,
    )  # fmt: skip


def _demo() -> SegmentationConfig:
    # The demo segmenter: a narrow U-Net (base 8: 8 → 128 channels) at 128×128, batch 4, a
    # cosine schedule from lr 2e-3 and cross-entropy weighted by 1/√frequency, trained for a
    # time budget of 330 s (2044 and 2092 steps in two runs on 2 idle CPU cores; figures in
    # README.md, "make demo"; runs in benchmarks/results/demo_miou.csv). Held-out test mIoU on the demo's
    # scenes, one thread, seeds 0 / 1, each row about the same time (a step of base 8 costs
    # 0.4× one of base 16):
    #   base 16, 900 steps, median-frequency weights       0.561 / 0.546
    #   base 8, 2250 steps, median-frequency weights       0.586 / 0.565
    #   base 8, 2250 steps, 1/√frequency weights (this)    0.600 / 0.566
    # This preset at 2250 steps with 2 threads: 0.585. Not better (seed 0, median-frequency
    # weights unless said): base 12 × 1150 steps 0.561, base 6 × 3000 (1/√frequency) 0.531,
    # base 8 at batch 8 × 1125 with lr 3e-3 0.559, this preset on 792 training scenes instead
    # of 198 0.608 (+0.008, inside the seed-to-seed spread: the demo's model scores 0.65 on
    # its training scenes, so it is short of training more than of data), lr 3e-3 0.600,
    # ce_top_k 0.3 (road forgotten: validation mIoU 0.17 against 0.34 at step 392); with base
    # 16: lr 3e-3 0.537, lr 6e-3 0.519, batch 2 × 1800 0.498, batch 8 × 450 0.534, +
    # Lovász-softmax 0.539 for ~40 % more time per step; plain CE 0.209 in 250 steps.
    # Longer training of this width saturates: 4900 steps 0.642, 9900 steps 0.666 (one
    # thread, 46 min). mIoU >= 0.85 is NOT reached in this budget on a CPU: the labels allow
    # about 0.92 (benchmarks/synthetic_label_ceiling.py), and ~9x the training of the base-16
    # preset (4000 steps of batch 8 on 810 scenes) reached 0.774.
    # On a CUDA device ``fastpix demo`` spends the same budget on a wider U-Net
    # (fastpix/demo.py, CUDA_FULL). channels_last also on the CPU: 6.53, 6.47, 7.05 steps/s
    # against 5.55, 6.09, 6.37 in NCHW (300-step runs of this preset in turns, 2 threads).
    return SegmentationConfig(
        model="unet", model_options={"base_channels": 8}, size=128, batch_size=4, lr=2e-3,
        lr_policy="cosine", warmup_steps=10, time_budget=330.0, epochs=1000, val_every=2,
        threads=2, channels_last=True, class_weights="sqrt_inv", sample_every=250,
        checkpoint_every=1000, log_every=50,
    )  # fmt: skip


def _demo_pix2pix() -> Pix2PixConfig:
    # The demo's short pix2pix run: photo → colour mask at 128×128, 60 steps of batch 4 (53 s
    # on the shared 2-core machine); palette → class mIoU on held-out scenes 0.105 after 60
    # steps, 0.152 after 150 (benchmarks/results/demo_miou.csv).
    return Pix2PixConfig(
        generator="unet_128", generator_options={"ngf": 16}, discriminator="patchgan",
        discriminator_options={"ndf": 16}, size=128, load_size=None, flip=True, batch_size=4,
        direction="AtoB", steps=60, epochs=100, threads=2, sample_every=20, log_every=10,
        checkpoint_every=60,
    )  # fmt: skip


def _spade_cityscapes() -> SpadeConfig:
    # The SPADE paper's Cityscapes recipe: TTUR (G 1e-4, D 4e-4, Adam β = (0, 0.9)), hinge
    # loss, 10 · feature matching, 10 · VGG (with --vgg-weights), ngf 64 with "more"
    # upsampling layers, 2 discriminator scales, flip, batch 32 (the paper's total over
    # 8 GPUs: give --batch-size 4 per process under torchrun), 200 epochs with the learning
    # rate decaying linearly over the last 100. Square 256 crops (the Cityscapes pairs);
    # NVlabs trains at 256×512.
    return SpadeConfig(
        generator_options={"ngf": 64, "num_upsampling_layers": "more"},
        discriminator_options={"ndf": 64, "n_layers": 4, "num_D": 2}, size=256,
        batch_size=32, epochs=200, n_epochs_decay=100, lr_policy="linear",
    )  # fmt: skip


def _demo_spade() -> SpadeConfig:
    # The demo's short SPADE run: class map → photo at 64×64 on synthetic scenes, a narrow
    # generator and discriminator. One step takes about 0.5 CPU-seconds (one thread), so the
    # 150 steps take about a minute on 2 cores.
    return SpadeConfig(
        generator_options={"ngf": 8, "spade_hidden": 16},
        discriminator_options={"ndf": 16, "n_layers": 3, "num_D": 2}, size=64, batch_size=4,
        lr=4e-4, steps=150, epochs=100, threads=2, sample_every=50, log_every=10,
        checkpoint_every=150,
    )  # fmt: skip


PRESETS: dict[str, Callable[[], AnyConfig]] = {
    "unet-seed001": _unet_seed001,
    "road-unet-seed004": _road_unet_seed004,
    "fcn-resnet34-seed003": _fcn_resnet34_seed003,
    "pix2pix-cityscapes": _pix2pix_cityscapes,
    "pix2pix-seed000": _pix2pix_seed000,
    "cgan-seed001": _cgan_seed001,
    "demo": _demo,
    "demo-pix2pix": _demo_pix2pix,
    "spade-cityscapes": _spade_cityscapes,
    "demo-spade": _demo_spade,
}


def get_preset(name: str, **overrides: Any) -> AnyConfig:
    """Preset ``name`` with ``overrides`` applied (None values are ignored)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return replace(PRESETS[name](), **{k: v for k, v in overrides.items() if v is not None})
