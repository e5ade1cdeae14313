"""Weight initialization of the pix2pix reference (``init_weights`` in its ``networks.py``).

Conv, transposed-conv and linear weights are drawn from the chosen scheme and their biases set
to 0; batch-norm weights are drawn from N(1, gain) and their biases set to 0. Other layers keep
PyTorch's defaults. The reference selects batch norms by class name; fastpix tests
``isinstance(m, nn.BatchNorm2d)`` so that the fused ``BatchNormAct2d`` is included.
"""

from __future__ import annotations

from torch import nn

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(model: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialize ``model`` in place as pix2pix does and return it.

    init_type: "normal" (N(0, init_gain), the pix2pix default), "xavier" (xavier_normal with
    gain ``init_gain``), "kaiming" (kaiming_normal, fan_in, a=0) or "orthogonal" (gain
    ``init_gain``).
    """
    if init_type not in INIT_TYPES:
        raise ValueError(
            f"unknown init_type {init_type!r}; expected one of: " + ", ".join(map(repr, INIT_TYPES))
        )
    for module in model.modules():
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
            if init_type == "normal":
                nn.init.normal_(module.weight, 0.0, init_gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(module.weight, gain=init_gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(module.weight, gain=init_gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d) and module.affine:
            nn.init.normal_(module.weight, 1.0, init_gain)
            nn.init.zeros_(module.bias)
    return model
