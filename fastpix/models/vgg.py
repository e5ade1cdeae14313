"""VGG-19's convolutional part, as torchvision builds it, for perceptual losses.

``VGG19Features.features`` is torchvision's ``vgg19().features`` (configuration "E": 16 3×3
convs with ReLU, five 2×2 max pools), module for module, so the ``features.N.weight`` /
``features.N.bias`` keys of a torchvision ``vgg19`` ``.pth`` load into it
(``load_vgg19_weights``; the ``classifier.*`` keys are ignored). fastpix does not download
weights: pass a local file (torchvision's ImageNet ``vgg19-dcbb9e9d.pth``).

``forward`` returns the activations after relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1
(``features`` indices 1, 6, 11, 20, 29), the layers SPADE's and pix2pixHD's perceptual loss
compares; the layers after relu5_1 are never run.
"""

from __future__ import annotations

import torch
from torch import nn

from fastpix.models.state_dict import StateDictSource, load_torchvision_state

# Output channels per conv, "M" for a 2×2 max pool: torchvision's configuration "E".
VGG19_LAYERS: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
    512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip
# ``features`` index just past relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
SLICE_ENDS = (2, 7, 12, 21, 30)


class VGG19Features(nn.Module):
    """torchvision's VGG-19 ``features`` (20,024,384 parameters).

    Input: N×3×H×W float, normalized as the weights expect (ImageNet mean/std for
    torchvision's). Output: the five ReLU activations listed in the module docstring,
    N×64×H×W, N×128×H/2×W/2, N×256×H/4×W/4, N×512×H/8×W/8, N×512×H/16×W/16.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for spec in VGG19_LAYERS:
            if spec == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(spec), 3, padding=1), nn.ReLU()]
                channels = int(spec)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG19Features expects an N×3×H×W tensor, got shape {tuple(x.shape)}")
        outputs = []
        start = 0
        for end in SLICE_ENDS:
            for index in range(start, end):
                x = self.features[index](x)
            outputs.append(x)
            start = end
        return outputs


def load_vgg19_weights(model: VGG19Features, source: StateDictSource) -> VGG19Features:
    """Load a torchvision ``vgg19`` state dict (a ``.pth`` path or a dict) into ``model``.

    ``classifier.*`` keys are ignored; every ``features.*`` key must be present with its
    shape. Read with ``torch.load(weights_only=True)``.
    """
    return load_torchvision_state(model, source, "vgg19", "classifier.")


__all__ = ["SLICE_ENDS", "VGG19_LAYERS", "VGG19Features", "load_vgg19_weights"]
