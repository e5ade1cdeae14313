"""Street furniture and plants: poles (with lamps), traffic lights, traffic signs, trees, and
the walls, fences and hedges along the street."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fastpix.data.synthetic.common import (
    FENCE,
    LAMP_COLORS,
    MIN_LIGHT,
    MIN_POLE,
    MIN_SIGN,
    POLE,
    TOWARDS_CAMERA,
    TRAFFIC_LIGHT,
    TRAFFIC_SIGN,
    UP,
    VEGETATION,
    WALL,
    Light,
    ellipse,
    hash01,
    min_width,
    solid,
    textured,
    wrap,
)
from fastpix.data.synthetic.raster import Canvas, put_rgb, scale_rgb, x_plane, y_plane, z_plane


@dataclass
class Pole:
    """A pole at (x, z) of ``height``; ``arm`` metres of horizontal arm at the top towards
    the road (signed), with a lamp head when ``lamp``."""

    x: float
    z: float
    height: float
    color: np.ndarray
    arm: float = 0.0
    lamp: bool = False

    def draw(self, canvas: Canvas, light: Light) -> None:
        w = min_width(canvas, 0.22, self.z, MIN_POLE)
        face = z_plane(
            canvas,
            self.z,
            self.x - max(w, abs(self.arm)) - 0.5,
            self.x + max(w, abs(self.arm)) + 0.5,
            0.0,
            self.height + 0.3,
        )
        if face is None:
            return
        u, v = face.a - self.x, face.b
        grain, fine, _ = canvas.noise(face.window)
        base = v < 0.5  # the pole's foot is wider
        half = np.where(base, np.float32(0.7 * w), np.float32(0.5 * w))  # float32 maths
        mask = (np.abs(u) < half) & (v < self.height)
        # Round shading across the pole: u depends on the column only, so shade one row for
        # the foot and one for the shaft.
        lit_side = 0.5 * math.copysign(1.0, light.sun[0]) if light.sun[0] else 0.0
        across = u[:1]
        shade = np.where(
            base,
            0.75 + 0.35 * np.cos(np.clip(across / np.float32(0.7 * w), -1, 1) * 1.4 - lit_side),
            0.75 + 0.35 * np.cos(np.clip(across / np.float32(0.5 * w), -1, 1) * 1.4 - lit_side),
        )
        if self.arm:
            t = w * 0.7
            along = u * np.sign(self.arm)
            arm = (along > 0) & (along < abs(self.arm)) & (np.abs(v - self.height + t / 2) < t / 2)
            mask |= arm
            shade = np.where(arm, 1.0, shade)
            if self.lamp:
                head = (np.abs(along - abs(self.arm)) < 0.35) & (np.abs(v - self.height + 0.1) < w)
                mask |= head
                shade = np.where(head, 0.8, shade)
        rgb = textured(self.color, grain, fine, 0.05, shade)
        canvas.paint(
            face.window, mask & face.inside, self.z, POLE, rgb, tint=light.on(TOWARDS_CAMERA)
        )


@dataclass
class TrafficLight:
    """A three-lamp signal head facing the camera, its bottom at ``y``."""

    x: float
    z: float
    y: float
    lit: int  # 0 red, 1 amber, 2 green
    housing: np.ndarray
    backplate: bool

    def draw(self, canvas: Canvas, light: Light) -> None:
        w = min_width(canvas, 0.36, self.z, MIN_LIGHT)
        h = 2.6 * w
        pad = 0.18 * w if self.backplate else 0.0
        face = z_plane(
            canvas,
            self.z - 0.05,
            self.x - w / 2 - pad,
            self.x + w / 2 + pad,
            self.y - pad,
            self.y + h + pad,
        )
        if face is None:
            return
        u, v = face.a - self.x, face.b - self.y
        grain, fine, _ = canvas.noise(face.window)
        rgb = textured(self.housing, grain, fine, 0.08)
        if self.backplate:
            rim = (np.abs(u) > w / 2) | (v < 0) | (v > h)
            put_rgb(rgb, rim, np.array([0.85, 0.85, 0.82], np.float32))
        rgb *= light.on(TOWARDS_CAMERA)
        for k in range(3):  # lamps glow by themselves: no lighting on them
            cv = h * (5 - 2 * k) / 6
            lamp = ellipse(u, v, 0.0, cv, 0.33 * w, 0.33 * w)
            put_rgb(rgb, lamp, LAMP_COLORS[k] * (1.0 if k == self.lit else 0.18))
            if k == self.lit:
                put_rgb(rgb, ellipse(u, v, 0.0, cv, 0.16 * w, 0.16 * w), 0.6 + 0.4 * LAMP_COLORS[k])
        # Signal heads and signs hang just in front of their pole.
        canvas.paint(face.window, face.inside, self.z - 0.05, TRAFFIC_LIGHT, rgb)


@dataclass
class Sign:
    """A traffic sign plate centred at (x, y) at depth z."""

    x: float
    z: float
    y: float
    kind: str  # "round", "triangle", "yield", "square", "diamond", "octagon"
    size: float

    def draw(self, canvas: Canvas, light: Light) -> None:
        r = min_width(canvas, self.size, self.z, MIN_SIGN) / 2
        face = z_plane(canvas, self.z - 0.05, self.x - r, self.x + r, self.y - r, self.y + r)
        if face is None:
            return
        u, v = (face.a - self.x) / r, (face.b - self.y) / r
        grain, fine, _ = canvas.noise(face.window)
        white = np.array([0.92, 0.92, 0.9], np.float32)
        red = np.array([0.78, 0.08, 0.08], np.float32)
        if self.kind == "round":
            d = np.hypot(u, v)
            mask = d < 1
            rgb = np.where((d > 0.72)[..., None], red, white)
            put_rgb(rgb, (np.abs(u) < 0.35) & (np.abs(v) < 0.3) & (np.abs(u) > 0.08), 0.1)
        elif self.kind in ("triangle", "yield"):
            vv = v if self.kind == "triangle" else -v
            mask = (vv > -0.85) & (np.abs(u) < (1 - vv) * 0.6)
            inner = (vv > -0.6) & (np.abs(u) < (0.75 - vv) * 0.6 - 0.05)
            rgb = np.where(inner[..., None], white, red)
            if self.kind == "triangle":
                put_rgb(rgb, inner & (np.abs(u) < 0.08) & (vv > -0.45) & (vv < 0.25), 0.1)
        elif self.kind == "square":
            mask = (np.abs(u) < 0.9) & (np.abs(v) < 0.9)
            rgb = solid(u.shape, [0.1, 0.28, 0.66])
            arrow = (np.abs(u) < 0.15) & (v > -0.55) & (v < 0.3) | (np.abs(u) < 0.5 - (v - 0.2))
            put_rgb(rgb, arrow & (v > -0.55) & (v < 0.65), white)
        elif self.kind == "diamond":
            d = np.abs(u) + np.abs(v)
            mask = d < 1
            rgb = np.where((d < 0.62)[..., None], np.array([0.95, 0.78, 0.1], np.float32), white)
        else:  # octagon (stop)
            mask = (np.maximum(np.abs(u), np.abs(v)) < 0.95) & (np.abs(u) + np.abs(v) < 1.35)
            rgb = solid(u.shape, red)
            put_rgb(rgb, (np.abs(v) < 0.15) & (np.abs(u) < 0.65), white)
        rgb = textured(rgb, grain, fine, 0.04)
        canvas.paint(
            face.window,
            mask & face.inside,
            self.z - 0.05,
            TRAFFIC_SIGN,
            rgb,
            tint=light.on(TOWARDS_CAMERA),
        )


BARK_RGB = np.array([0.3, 0.25, 0.2], np.float32)


@dataclass
class Tree:
    """Trunk and a crown made of a few overlapping ellipses, at (x, z)."""

    x: float
    z: float
    trunk: float  # crown bottom height
    blobs: np.ndarray  # (k, 4): centre u, centre v, radius u, radius v (metres)
    color: np.ndarray

    def draw(self, canvas: Canvas, light: Light) -> None:
        reach = float(np.max(np.abs(self.blobs[:, 0]) + self.blobs[:, 2]))
        top = float(np.max(self.blobs[:, 1] + self.blobs[:, 3]))
        face = z_plane(canvas, self.z, self.x - reach, self.x + reach, 0.0, top)
        if face is None:
            return
        u, v = face.a - self.x, face.b
        region = face.window.region
        # How deep inside the nearest blob each pixel is (1 at a centre, 0 on the outline),
        # and how high up in it (the top of each blob catches more light).
        depth_in = np.full(u.shape, -1.0, np.float32)
        height_in = np.zeros(u.shape, np.float32)
        cam, win = canvas.camera, face.window
        for cu, cv, ru, rv in self.blobs:
            # Only pixels near the blob's bounding box can be in it (the lumpy outline
            # reaches up to d = -0.25, i.e. 1.12 radii).
            x0 = max(0, math.floor(cam.column(self.x + cu - 1.15 * ru, self.z)) - win.x0)
            x1 = max(0, math.ceil(cam.column(self.x + cu + 1.15 * ru, self.z)) + 1 - win.x0)
            y0 = max(0, math.floor(cam.row(cv + 1.15 * rv, self.z)) - win.y0)
            y1 = max(0, math.ceil(cam.row(cv - 1.15 * rv, self.z)) + 1 - win.y0)
            box = (slice(y0, y1), slice(x0, x1))
            bu, bv = u[box], v[box]
            d = 1.0 - ((bu - cu) / ru) ** 2 - ((bv - cv) / rv) ** 2
            closer = d > depth_in[box]
            depth_in[box] = np.where(closer, d, depth_in[box])
            up = np.clip(0.5 + (bv - cv) / (2 * rv), 0, 1)
            height_in[box] = np.where(closer, up, height_in[box])
        crown = depth_in + 0.5 * (canvas.mid[region] - 0.5) > 0  # lumpy outline
        w = min_width(canvas, 0.3, self.z, MIN_POLE)
        trunk = (np.abs(u) < w / 2) & (v < self.trunk + 0.5)
        visible = canvas.visible(win, (crown | trunk) & face.inside, self.z)
        if not visible.any():
            return
        crown, depth_in, height_in = crown[visible], depth_in[visible], height_in[visible]
        grain, fine, _ = (n[visible] for n in canvas.noise(win))
        leafy = (1.0 + 0.45 * (0.6 * grain + 1.6 * fine - 0.8)) * (
            0.55 + 0.55 * height_in + 0.25 * np.clip(depth_in, 0, 1)
        )
        shade = np.where(crown, leafy, 1.0 + 0.1 * grain)
        lit = np.stack([BARK_RGB, self.color]) * light.on(TOWARDS_CAMERA)  # bark, leaves
        rgb = np.take(lit, crown.astype(np.intp), axis=0) * shade[:, None]
        canvas.fill(win, visible, self.z, VEGETATION, rgb)


@dataclass
class Barrier:
    """A wall, fence or hedge along the street on X = x (the face towards the road), from z0
    to z1, ``height`` tall and ``thick`` deep."""

    x: float
    side: int
    z: float  # start (near end)
    z1: float
    height: float
    kind: str  # "wall", "fence", "hedge"
    style: int
    color: np.ndarray
    thick: float = 0.3

    def _colors(self, a, v, grain, fine, coarse) -> tuple[np.ndarray, np.ndarray | None]:
        """Colours (and see-through alpha) at ``a`` metres along and ``v`` up."""
        if self.kind == "hedge":
            rgb = textured(self.color, grain, fine, 0.5, 0.75 + 0.35 * v / self.height)
            return rgb, None
        if self.kind == "wall":
            rgb = textured(self.color, grain, fine, 0.08, 0.85 + 0.25 * coarse)
            if self.style == 0:  # concrete with formwork lines
                scale_rgb(rgb, wrap(v, 0.6) < 0.03, 0.82)
                scale_rgb(rgb, wrap(a, 2.4) < 0.03, 0.82)
            else:  # stone blocks
                course = np.floor(v / 0.35)
                rgb *= (0.88 + 0.2 * hash01(np.floor(a / 0.6 + 0.5 * course), course))[..., None]
                scale_rgb(
                    rgb, (wrap(v, 0.35) < 0.028) | (wrap(a / 0.6 + 0.5 * course, 1.0) < 0.05), 0.7
                )
            put_rgb(rgb, v > self.height - 0.12, self.color * 1.15)
            return rgb, None
        rgb = textured(self.color, grain, fine, 0.1)
        alpha = np.ones(a.shape, np.float32)
        if self.style == 0:  # wooden boards
            alpha[wrap(a, 0.14) < 0.02] = 0.8
        elif self.style == 1:  # metal bars with rails
            bar = (
                (wrap(a, 0.16) < 0.05)
                | (np.abs(v - self.height + 0.08) < 0.05)
                | (np.abs(v - 0.15) < 0.05)
            )
            alpha = np.where(bar, 1.0, 0.7).astype(np.float32)
            scale_rgb(rgb, ~bar, 0.5)
        else:  # wire mesh on posts
            mesh = (wrap(a + v, 0.12) < 0.025) | (wrap(a - v, 0.12) < 0.025)
            post = wrap(a, 2.5) < 0.08
            alpha = np.where(post, 1.0, np.where(mesh, 0.95, 0.7)).astype(np.float32)
            scale_rgb(rgb, ~(mesh | post), 0.45)
        return rgb, alpha

    def draw(self, canvas: Canvas, light: Light) -> None:
        label = {"wall": WALL, "fence": FENCE, "hedge": VEGETATION}[self.kind]
        side_face = x_plane(canvas, self.x, self.z, self.z1, 0.0, self.height)
        normal = (-float(self.side), 0.0, 0.0)
        faces = []
        if side_face is not None:
            faces.append((side_face, side_face.a - self.z, normal))
        x0, x1 = sorted((self.x, self.x + self.side * self.thick))
        front = z_plane(canvas, self.z, x0, x1, 0.0, self.height)
        if front is not None:
            faces.append((front, np.abs(front.a - self.x), TOWARDS_CAMERA))
        for face, a, n in faces:
            grain, fine, coarse = canvas.noise(face.window)
            rgb, alpha = self._colors(a, face.b, grain, fine, coarse)
            canvas.paint(face.window, face.inside, face.depth, label, rgb, alpha, tint=light.on(n))
        if self.kind != "fence":
            top = y_plane(canvas, self.height, x0, x1, self.z, self.z1)
            if top is not None:
                grain, fine, coarse = canvas.noise(top.window)
                rgb, _ = self._colors(top.b, np.full(top.a.shape, self.height), grain, fine, coarse)
                canvas.paint(top.window, top.inside, top.depth, label, rgb, tint=light.on(UP))
