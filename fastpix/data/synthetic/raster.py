"""Drawing world-space planes into a z-buffered photo + label canvas (synthetic scenes).

World coordinates are metres: X to the right, Y up from the ground, z forward. The camera sits
at (0, ``cam_height``, 0), looks along +z with a level horizon on row ``cy`` and the vanishing
point on column ``cx``. A pixel whose centre is (x, y) sees the ray (x - cx, cy - y, focal).

Every surface of a scene is a rectangle in one of three plane families, rasterized over the
pixel window its corners project to:

- ``z_plane``: z = const, facing the camera (object fronts and backs, people, poles, signs);
- ``x_plane``: X = const, parallel to the street (facades, vehicle sides, walls, fences);
- ``y_plane``: Y = const, horizontal (the ground, tops of walls below eye level).

Each returns a ``Face`` with the plane coordinates of every pixel in its window; a shader turns
those into a mask and colours, and ``Canvas.paint`` keeps a pixel only where it is nearer than
what is already there. Objects are painted far to near so that see-through parts (wheels,
railings) blend with what lies behind them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

NEAR = 0.3  # metres: surfaces closer than this are clipped


@dataclass(frozen=True)
class Camera:
    """Pinhole camera of a rendered frame (all lengths in pixels except ``cam_height``)."""

    height: int
    width: int
    focal: float
    cam_height: float
    cx: float
    cy: float

    def column(self, X, z):
        """Column of the points (X, z): floats or numpy arrays."""
        return self.cx + self.focal * X / z

    def row(self, Y, z):
        """Row of the points (Y, z): floats or numpy arrays."""
        return self.cy + self.focal * (self.cam_height - Y) / z

    def pixels(self, metres: float, z: float) -> float:
        """How many pixels ``metres`` spans at depth ``z``."""
        return self.focal * metres / z

    def metres(self, pixels: float, z: float) -> float:
        """How many metres ``pixels`` spans at depth ``z``."""
        return pixels * z / self.focal


@dataclass
class Window:
    """A rectangle of pixels: rows ``y0:y1``, columns ``x0:x1``, with their centre coordinates."""

    y0: int
    y1: int
    x0: int
    x1: int
    rows: np.ndarray  # (h, 1) float32 pixel-centre rows
    cols: np.ndarray  # (1, w) float32 pixel-centre columns

    @property
    def region(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


@dataclass
class Face:
    """A plane rectangle's pixels: ``a``, ``b`` are its two plane coordinates per pixel
    (z_plane: X, Y; x_plane: z, Y; y_plane: X, z), ``depth`` the z of each pixel, ``inside``
    the pixels that fall within the rectangle."""

    window: Window
    a: np.ndarray
    b: np.ndarray
    depth: np.ndarray
    inside: np.ndarray


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Value noise in about [0, 1]: random values on a grid of ``cell``-pixel squares,
    bilinearly interpolated. float32 (height, width)."""
    cell = max(1, int(cell))
    gh, gw = height // cell + 2, width // cell + 2
    grid = rng.random((gh, gw), dtype=np.float32)
    # Scaling the grid by ``cell``, but only over the height×width corner that is kept.
    box = (0.0, 0.0, width / cell, height / cell)
    image = Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR, box=box)
    return np.asarray(image)


class Canvas:
    """Photo (float32 H×W×3, 0..1), label (uint8 H×W) and depth (float32 H×W, z in metres;
    inf where nothing is drawn) of one frame, plus per-frame noise fields for textures:
    ``grain`` (per pixel, zero mean, unit variance), ``fine``, ``mid`` and ``coarse`` (smooth, 0..1, with
    features of about 1/80, 1/30 and 1/10 of the width)."""

    def __init__(self, camera: Camera, rng: np.random.Generator, void: int = 255) -> None:
        h, w = camera.height, camera.width
        self.camera = camera
        self.photo = np.zeros((h, w, 3), np.float32)
        self.label = np.full((h, w), void, np.uint8)
        self.depth = np.full((h, w), np.inf, np.float32)
        self.rows = (np.arange(h, dtype=np.float32) + 0.5)[:, None]
        self.cols = (np.arange(w, dtype=np.float32) + 0.5)[None, :]
        # Uniform with unit variance: as good as Gaussian for texture, and four times cheaper.
        self.grain = rng.random((h, w), dtype=np.float32)
        self.grain -= 0.5
        self.grain *= np.float32(12**0.5)
        self.fine = smooth_noise(rng, h, w, max(2, w // 80))
        self.mid = smooth_noise(rng, h, w, max(3, w // 30))
        self.coarse = smooth_noise(rng, h, w, max(4, w // 10))

    def window(self, x0: float, x1: float, y0: float, y1: float) -> Window | None:
        """The pixels whose centres may fall in [x0, x1] × [y0, y1]; None when empty."""
        h, w = self.camera.height, self.camera.width
        if not all(math.isfinite(v) for v in (x0, x1, y0, y1)):
            return None
        ix0, ix1 = max(0, math.floor(x0)), min(w, math.ceil(x1))
        iy0, iy1 = max(0, math.floor(y0)), min(h, math.ceil(y1))
        if ix1 <= ix0 or iy1 <= iy0:
            return None
        return Window(iy0, iy1, ix0, ix1, self.rows[iy0:iy1], self.cols[:, ix0:ix1])

    def noise(self, window: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The (grain, fine, coarse) noise fields under ``window``."""
        region = window.region
        return self.grain[region], self.fine[region], self.coarse[region]

    def visible(self, window: Window, mask: np.ndarray, depth) -> np.ndarray:
        """The pixels of ``mask`` where ``depth`` is nearer than what is drawn."""
        return mask & (depth < self.depth[window.region])

    def fill(self, window: Window, visible: np.ndarray, depth, label, rgb) -> None:
        """Draw the ``visible`` pixels of ``window``: ``depth``, ``label`` are scalars or one
        value per visible pixel, ``rgb`` is 3 values or one row per visible pixel."""
        region = window.region
        put_rgb(self.photo[region], visible, rgb)
        self.depth[region][visible] = depth
        self.label[region][visible] = label

    def paint(
        self,
        window: Window,
        mask: np.ndarray,
        depth,
        label,
        rgb,
        alpha: np.ndarray | None = None,
        tint: np.ndarray | None = None,
    ) -> None:
        """Draw ``rgb`` (h×w×3 or 3 values) with ``label`` (scalar or h×w) where ``mask`` holds
        and ``depth`` (scalar or h×w) is nearer than what is there. ``tint`` (3 values, the
        light on the surface) multiplies the colour, on the drawn pixels only. ``alpha`` (h×w,
        0..1) blends the colour with what is already drawn; the label and depth are replaced."""
        visible = self.visible(window, mask, depth)
        if not visible.any():
            return
        pick = _picker(visible)
        rgb = np.asarray(rgb, np.float32)
        if rgb.ndim == 3:
            rgb = take_rgb(rgb, visible)
        if tint is not None:
            rgb = rgb * tint
        if alpha is not None:
            a = pick(alpha)[:, None]
            rgb = take_rgb(self.photo[window.region], visible) * (1.0 - a) + rgb * a
        self.fill(window, visible, pick(depth), pick(label), rgb)


def _picker(visible: np.ndarray):
    """Select the ``visible`` pixels of a one-channel array shaped like the window (or
    broadcastable to it); scalars pass through."""

    def pick(values):
        values = np.asarray(values)
        if values.ndim == 0:
            return values
        return np.broadcast_to(values, visible.shape)[visible]

    return pick


# One RGB float32 pixel as a single 12-byte item. numpy selects and scatters whole items
# through a boolean mask several times faster than it handles a trailing channel axis, and
# the copy is bit for bit.
_PIXEL = np.dtype((np.void, 12))


def _pixels(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (…×3 float32, channels contiguous) viewed as one ``_PIXEL`` per pixel."""
    if rgb.dtype != np.float32 or rgb.shape[-1] != 3:
        raise TypeError(f"expected a float32 …×3 array, got {rgb.dtype} {rgb.shape}")
    return rgb.view(_PIXEL)[..., 0]


def take_rgb(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``rgb[mask]``: the float32 n×3 colours of the n pixels where ``mask`` holds."""
    return _pixels(rgb)[mask].view(np.float32).reshape(-1, 3)


def put_rgb(rgb: np.ndarray, mask: np.ndarray, values) -> None:
    """``rgb[mask] = values`` in place: ``values`` is a grey, 3 values, or one grey (n×1) or
    colour (n×3) per masked pixel."""
    values = np.asarray(values, np.float32)
    if values.ndim == 0:  # a grey
        values = np.full(3, values, np.float32)
    elif values.shape[-1] != 3:  # one grey per pixel
        values = np.repeat(values, 3, axis=-1)
    _pixels(rgb)[mask] = _pixels(np.ascontiguousarray(values))


def scale_rgb(rgb: np.ndarray, mask: np.ndarray, factor) -> None:
    """``rgb[mask] *= factor`` in place, for a scalar ``factor`` or one per pixel of ``mask``
    (the other pixels are multiplied by exactly 1)."""
    factor = np.asarray(factor, np.float32)
    rgb *= np.where(mask, factor, np.float32(1.0))[..., None]


def z_plane(canvas: Canvas, z: float, X0: float, X1: float, Y0: float, Y1: float) -> Face | None:
    """The rectangle X0..X1 × Y0..Y1 on the plane at depth ``z``."""
    cam = canvas.camera
    if z <= NEAR:
        return None
    win = canvas.window(cam.column(X0, z), cam.column(X1, z), cam.row(Y1, z), cam.row(Y0, z))
    if win is None:
        return None
    X = (win.cols - cam.cx) * (z / cam.focal)  # (1, w)
    Y = cam.cam_height - (win.rows - cam.cy) * (z / cam.focal)  # (h, 1)
    inside = ((X >= X0) & (X <= X1)) & ((Y >= Y0) & (Y <= Y1))
    return Face(
        win, np.broadcast_to(X, win.shape), np.broadcast_to(Y, win.shape), np.float32(z), inside
    )


def x_plane(canvas: Canvas, X: float, z0: float, z1: float, Y0: float, Y1: float) -> Face | None:
    """The rectangle z0..z1 × Y0..Y1 on the plane X = const (seen from the street side)."""
    cam = canvas.camera
    z0 = max(z0, NEAR)
    if abs(X) < 1e-3 or z1 <= z0:
        return None
    cols = cam.column(X, np.array([z0, z1]))
    rows = cam.row(np.array([Y0, Y1, Y0, Y1]), np.array([z0, z0, z1, z1]))
    win = canvas.window(cols.min(), cols.max(), rows.min(), rows.max())
    if win is None:
        return None
    dx = win.cols - cam.cx
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(dx * X > 0, cam.focal * X / dx, -1.0).astype(np.float32)  # (1, w)
    Y = cam.cam_height - (win.rows - cam.cy) * (z / cam.focal)  # (h, w)
    inside = ((z >= z0) & (z <= z1)) & (Y >= Y0) & (Y <= Y1)
    z = np.broadcast_to(z, win.shape)
    return Face(win, z, Y, z, inside)


def y_plane(canvas: Canvas, Y: float, X0: float, X1: float, z0: float, z1: float) -> Face | None:
    """The rectangle X0..X1 × z0..z1 on the horizontal plane at height ``Y`` (below the eye)."""
    cam = canvas.camera
    z0 = max(z0, NEAR)
    drop = cam.cam_height - Y
    if drop <= 1e-3 or z1 <= z0:
        return None
    zs = np.array([z0, z0, z1, z1])
    cols = cam.column(np.array([X0, X1, X0, X1]), zs)
    rows = cam.row(Y, np.array([z0, z1]))
    win = canvas.window(cols.min(), cols.max(), rows.min(), rows.max())
    if win is None:
        return None
    dy = win.rows - cam.cy
    with np.errstate(divide="ignore"):
        z = np.where(dy > 0, cam.focal * drop / dy, -1.0).astype(np.float32)  # (h, 1)
    Xw = (win.cols - cam.cx) * (z / cam.focal)  # (h, w)
    inside = (Xw >= X0) & (Xw <= X1) & ((z >= z0) & (z <= z1))
    z = np.broadcast_to(z, win.shape)
    return Face(win, Xw, z, z, inside)


def box_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor``×``factor`` blocks of an H×W(×C) float array (H, W multiples of
    factor)."""
    if factor == 1:
        return image
    # Rows first: each of those sums reads whole contiguous rows, and halves what follows.
    rows = image[::factor].copy()
    for dy in range(1, factor):
        rows += image[dy::factor]
    total = rows[:, ::factor].copy()
    for dx in range(1, factor):
        total += rows[:, dx::factor]
    total *= np.float32(1.0 / factor**2)
    return total


def blur3(image: np.ndarray, weight: float) -> np.ndarray:
    """Separable [w, 1-2w, w] blur along both axes of an H×W(×C) float image (edges clamped)."""
    if weight <= 0:
        return image
    out = np.array(image, np.float32)
    for axis in (0, 1):
        moved = np.moveaxis(out, axis, 0)
        padded = np.concatenate([moved[:1], moved, moved[-1:]])
        moved[:] = padded[1:-1] * (1.0 - 2.0 * weight) + (padded[:-2] + padded[2:]) * weight
    return out
