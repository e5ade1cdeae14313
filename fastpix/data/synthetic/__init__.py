"""Procedural street scenes with their Cityscapes trainId labels.

``make_scene(seed, height, width)`` draws one street seen from a car, deterministically per
seed, at any size: a road in perspective with lane marks and crossings, sidewalks, terrain,
buildings with windows and shop fronts, walls, fences, poles with street lamps, traffic lights
and signs, trees and hedges, parked and moving cars, trucks, buses and trams, pedestrians,
riders on bicycles and motorcycles, parked bicycles and motorcycles, under varied light, haze
and camera settings. All 19 trainId classes occur; the only void (255) is an occasional
ego-vehicle bonnet at the bottom edge, as in Cityscapes.

The photo is shaded, not a recolouring of the mask: every class has a family of colours and
textures that varies per object and per scene, surfaces are lit by a sun (or an overcast
sky) and shadowed by the buildings, and the frame is hazed with depth, blurred and noised.

Layout is decided in metres with its own random stream, so one seed gives the same street at
every size; ``supersample`` renders at a multiple of the size and averages the photo down
(anti-aliasing) while the label takes the centre sample of each block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fastpix.data.synthetic.background import (
    draw_ground,
    draw_row,
    draw_sky,
    draw_street_end,
    shade_shadows,
)
from fastpix.data.synthetic.common import IGNORE_INDEX, NUM_CLASSES
from fastpix.data.synthetic.layout import Street, populate, sample_street
from fastpix.data.synthetic.raster import (
    Camera,
    Canvas,
    blur3,
    box_downsample,
    put_rgb,
    take_rgb,
)


def _draw_hood(canvas: Canvas, street: Street) -> None:
    cam = canvas.camera
    x = (canvas.cols - cam.width / 2) / (cam.width / 2)
    top = cam.height * (1 - street.hood * (1 - 0.35 * x**2))
    first = max(0, math.floor(float(top.min())))  # the bonnet covers only the bottom rows
    rows = canvas.rows[first:]
    mask = rows > top
    shade = 0.12 + 0.25 * np.clip(1 - (rows - top) / (street.hood * cam.height), 0, 1)
    rgb = shade[..., None] * np.array([0.9, 0.95, 1.0], np.float32)
    put_rgb(canvas.photo[first:], mask, take_rgb(rgb, mask))
    canvas.label[first:][mask] = IGNORE_INDEX


def _finish(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera effects: exposure, white balance, saturation, lens blur, vignetting and sensor
    noise. float32 H×W×3 in 0..1 → uint8."""
    gain = rng.uniform(0.9, 1.15) * rng.uniform(0.96, 1.04, 3).astype(np.float32)
    grey = ((photo[..., 0] + photo[..., 1] + photo[..., 2]) / 3)[..., None]  # = mean(-1), faster
    photo = (grey + (photo - grey) * np.float32(rng.uniform(0.75, 1.15))) * gain
    photo = blur3(photo, rng.uniform(0.0, 0.2))
    h, w = photo.shape[:2]
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None] ** 2
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :] ** 2
    photo *= (1.0 - np.float32(rng.uniform(0.0, 0.09)) * (xx + yy))[..., None]
    noise = rng.random(photo.shape, dtype=np.float32)
    noise -= 0.5
    noise *= np.float32(rng.uniform(0.02, 0.07))
    photo += noise
    np.clip(photo, 0, 1, out=photo)
    photo *= 255
    photo += 0.5
    return photo.astype(np.uint8)


def _render(seed: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw scene ``seed`` at exactly ``height``×``width`` pixels: float32 H×W×3 photo in
    0..1 before camera effects, uint8 H×W trainIds."""
    layout_rng = np.random.default_rng([seed, 0])
    street = sample_street(layout_rng)
    things = populate(layout_rng, street)
    camera = Camera(
        height=height,
        width=width,
        focal=street.focal_scale * math.sqrt(height * width),
        cam_height=street.cam_height,
        cx=street.center * width,
        cy=street.horizon * height,
    )
    canvas = Canvas(camera, np.random.default_rng([seed, 1, height, width]))
    # Near to far, so that hidden parts of the big surfaces are never shaded.
    for row in (*street.front, *street.back):
        draw_row(canvas, row, street.light, street.z_end)
    draw_street_end(canvas, street)
    draw_ground(canvas, street)
    draw_sky(canvas, street)
    for thing in sorted(things, key=lambda t: -t.z):
        thing.draw(canvas, street.light)
    shade_shadows(canvas, street)
    haze = 1.0 - np.exp(-np.where(np.isfinite(canvas.depth), canvas.depth, 0.0) / street.haze)
    fog = np.subtract(street.sky_horizon, canvas.photo)
    fog *= haze[..., None]
    canvas.photo += fog
    if street.hood:
        _draw_hood(canvas, street)
    return canvas.photo, canvas.label


@dataclass(frozen=True)
class Scene:
    """A rendered scene: ``photo`` uint8 H×W×3, ``labels`` uint8 H×W trainIds, and
    ``fine_labels`` uint8 (sH)×(sW), the trainIds of every supersample (s = supersample)."""

    photo: np.ndarray
    labels: np.ndarray
    fine_labels: np.ndarray


def render_scene(seed: int, height: int = 256, width: int = 256, supersample: int = 2) -> Scene:
    """``make_scene`` with the supersampled labels too (for drawing masks that are resized
    down from a finer original, as the pix2pix Cityscapes pairs are)."""
    if height < 16 or width < 16:
        raise ValueError(f"scene size must be at least 16×16, got {height}×{width}")
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    photo, fine = _render(seed, height * supersample, width * supersample)
    photo = _finish(box_downsample(photo, supersample), np.random.default_rng([seed, 2]))
    centre = supersample // 2
    labels = np.ascontiguousarray(fine[centre::supersample, centre::supersample])
    return Scene(photo, labels, fine)


def make_scene(
    seed: int, height: int = 256, width: int = 256, *, supersample: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic street scene and its labels.

    Args:
        seed: any non-negative int; the same seed gives the same street at every size.
        height, width: output size in pixels (any size >= 16).
        supersample: render at this multiple of the size; the photo is averaged down
            (anti-aliased), each label pixel is the centre sample of its block.

    Returns:
        (photo, labels): uint8 H×W×3 RGB and uint8 H×W Cityscapes trainIds (0..18; 255 for
        the ego-vehicle bonnet).
    """
    scene = render_scene(seed, height, width, supersample)
    return scene.photo, scene.labels


__all__ = ["NUM_CLASSES", "Scene", "make_scene", "render_scene"]
