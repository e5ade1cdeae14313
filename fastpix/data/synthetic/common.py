"""What every part of a synthetic street shares: class ids, colour families, the light, and
small shape and texture helpers (all in plane coordinates, metres)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fastpix.data.synthetic.raster import Canvas
from fastpix.labels import IGNORE_INDEX, LABELS

_TRAIN_ID = {lab.name: lab.train_id for lab in LABELS if 0 <= lab.train_id < IGNORE_INDEX}
ROAD = _TRAIN_ID["road"]
SIDEWALK = _TRAIN_ID["sidewalk"]
BUILDING = _TRAIN_ID["building"]
WALL = _TRAIN_ID["wall"]
FENCE = _TRAIN_ID["fence"]
POLE = _TRAIN_ID["pole"]
TRAFFIC_LIGHT = _TRAIN_ID["traffic light"]
TRAFFIC_SIGN = _TRAIN_ID["traffic sign"]
VEGETATION = _TRAIN_ID["vegetation"]
TERRAIN = _TRAIN_ID["terrain"]
SKY = _TRAIN_ID["sky"]
PERSON = _TRAIN_ID["person"]
RIDER = _TRAIN_ID["rider"]
CAR = _TRAIN_ID["car"]
TRUCK = _TRAIN_ID["truck"]
BUS = _TRAIN_ID["bus"]
TRAIN = _TRAIN_ID["train"]
MOTORCYCLE = _TRAIN_ID["motorcycle"]
BICYCLE = _TRAIN_ID["bicycle"]
NUM_CLASSES = len(_TRAIN_ID)

# Thin things are drawn at least this wide, as a fraction of the frame width, so that they
# stay several pixels wide at 128×128 (a real 25 cm pole 20 m away would be one pixel).
MIN_POLE = 0.04
MIN_LIGHT = 0.05
MIN_SIGN = 0.08
MIN_TUBE = 0.012

# Colour families (RGB, 0..1 albedo before lighting).
CAR_COLORS = np.array(
    [
        [0.82, 0.82, 0.8], [0.62, 0.63, 0.64], [0.4, 0.41, 0.43], [0.07, 0.07, 0.08],
        [0.09, 0.13, 0.3], [0.55, 0.07, 0.07], [0.15, 0.28, 0.55], [0.1, 0.24, 0.16],
        [0.55, 0.5, 0.42], [0.25, 0.26, 0.3],
    ],
    np.float32,
)  # fmt: skip
FACADE_COLORS = np.array(
    [
        [0.84, 0.79, 0.66], [0.83, 0.83, 0.8], [0.78, 0.64, 0.42], [0.76, 0.56, 0.48],
        [0.6, 0.6, 0.58], [0.62, 0.68, 0.72], [0.66, 0.7, 0.58], [0.7, 0.66, 0.6],
    ],
    np.float32,
)  # fmt: skip
BRICK = np.array([0.52, 0.27, 0.2], np.float32)
BUS_COLORS = np.array(
    [[0.92, 0.68, 0.08], [0.75, 0.12, 0.1], [0.12, 0.3, 0.66], [0.13, 0.48, 0.3]], np.float32
)
TRAM_COLORS = np.array(
    [[0.72, 0.08, 0.1], [0.9, 0.8, 0.3], [0.08, 0.42, 0.45], [0.2, 0.25, 0.55]], np.float32
)
CLOTHES = np.array(
    [
        [0.1, 0.1, 0.12], [0.2, 0.22, 0.35], [0.45, 0.45, 0.47], [0.75, 0.75, 0.72],
        [0.55, 0.12, 0.12], [0.15, 0.35, 0.6], [0.6, 0.5, 0.3], [0.25, 0.4, 0.25],
        [0.8, 0.55, 0.2], [0.5, 0.2, 0.45],
    ],
    np.float32,
)  # fmt: skip
# Riders wear bright sports or high-visibility jackets (and helmets).
RIDER_CLOTHES = np.array(
    [[0.95, 0.85, 0.1], [0.95, 0.45, 0.05], [0.1, 0.75, 0.85], [0.85, 0.1, 0.15],
     [0.55, 0.85, 0.1], [0.95, 0.95, 0.95]],
    np.float32,
)  # fmt: skip
SKIN = np.array(
    [[0.93, 0.76, 0.63], [0.82, 0.62, 0.48], [0.6, 0.42, 0.3], [0.38, 0.26, 0.18]], np.float32
)
LAMP_COLORS = np.array([[1.0, 0.12, 0.08], [1.0, 0.65, 0.05], [0.15, 1.0, 0.45]], np.float32)


@dataclass(frozen=True)
class Light:
    """A sun (direction towards it, strength, colour) plus sky light; ``shadows`` is off
    under an overcast sky."""

    sun: np.ndarray
    direct: float
    ambient: float
    sun_rgb: np.ndarray
    sky_rgb: np.ndarray
    shadows: bool

    def on(self, normal: tuple[float, float, float]) -> np.ndarray:
        """RGB light multiplier for a surface facing ``normal``."""
        facing = max(0.0, float(np.dot(normal, self.sun)))
        return (self.ambient * self.sky_rgb + self.direct * facing * self.sun_rgb).astype(
            np.float32
        )


UP = (0.0, 1.0, 0.0)
TOWARDS_CAMERA = (0.0, 0.0, -1.0)


def sample_light(rng: np.random.Generator) -> Light:
    overcast = rng.random() < 0.35
    elevation = math.radians(rng.uniform(18, 60))
    azimuth = rng.uniform(0, 2 * math.pi)
    sun = np.array(
        [
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
            math.cos(elevation) * math.cos(azimuth),
        ]
    )
    warm = rng.uniform(0.0, 0.12)
    sun_rgb = np.array([1.0 + warm, 1.0, 1.0 - warm], np.float32)
    sky_rgb = np.array([0.95, 0.98, 1.05], np.float32)
    if overcast:
        return Light(sun, 0.12, rng.uniform(0.85, 1.0), sun_rgb, sky_rgb, False)
    return Light(sun, rng.uniform(0.55, 0.75), rng.uniform(0.45, 0.55), sun_rgb, sky_rgb, True)


def hash01(a: np.ndarray, b: np.ndarray | float = 0.0) -> np.ndarray:
    """A deterministic pseudo-random value in [0, 1) per integer cell (a, b)."""
    h = np.sin(np.asarray(a, np.float32) * 12.9898 + np.asarray(b, np.float32) * 78.233)
    return wrap(h * 43758.5453, 1.0)


def wrap(a, period):
    """``a`` modulo ``period`` in [0, period) (numpy's float ``%`` is ten times slower)."""
    return a - period * np.floor(a / period)


def capsule(u, v, p, q, r) -> np.ndarray:
    """Pixels within ``r`` of the segment p→q (all in the same plane units)."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    length2 = dx * dx + dy * dy or 1e-9
    t = np.clip(((u - p[0]) * dx + (v - p[1]) * dy) / length2, 0.0, 1.0)
    return (u - p[0] - t * dx) ** 2 + (v - p[1] - t * dy) ** 2 < r * r


def ellipse(u, v, cu, cv, ru, rv) -> np.ndarray:
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 < 1.0


def solid(shape: tuple[int, int], color) -> np.ndarray:
    return np.broadcast_to(np.asarray(color, np.float32), (*shape, 3)).copy()


def textured(
    color, grain: np.ndarray, fine: np.ndarray, amount: float, shade: np.ndarray | None = None
) -> np.ndarray:
    """``color`` modulated by pixel grain and fine noise (relative ``amount``), times the
    per-pixel brightness ``shade`` (one value per pixel) when given."""
    factor = 1.0 + amount * (0.6 * grain + 1.6 * (fine - 0.5))
    if shade is not None:
        factor = factor * shade  # one multiply per pixel rather than per channel
    return np.asarray(color, np.float32) * factor[..., None]


def min_width(canvas: Canvas, metres: float, z: float, fraction: float) -> float:
    """``metres``, widened so that it spans at least ``fraction`` of the frame width at z."""
    return max(metres, canvas.camera.metres(fraction * canvas.camera.width, z))
