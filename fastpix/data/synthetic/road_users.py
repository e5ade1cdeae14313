"""Road users: pedestrians, bicycles and motorcycles (parked or ridden), cars, trucks, buses
and trams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastpix.data.synthetic.common import (
    BICYCLE,
    BUS,
    CAR,
    MIN_TUBE,
    MOTORCYCLE,
    PERSON,
    RIDER,
    TOWARDS_CAMERA,
    TRAIN,
    TRUCK,
    Light,
    capsule,
    ellipse,
    min_width,
    solid,
    textured,
    wrap,
)
from fastpix.data.synthetic.raster import Canvas, put_rgb, scale_rgb, x_plane, y_plane, z_plane


@dataclass
class Person:
    """A standing or walking pedestrian at (x, z), ``height`` tall, facing ``facing`` (±1)."""

    x: float
    z: float
    height: float
    facing: int
    stride: float
    skin: np.ndarray
    hair: np.ndarray
    top: np.ndarray
    legs: np.ndarray
    skirt: bool
    squash: float = 1.0

    def draw(self, canvas: Canvas, light: Light) -> None:
        h = self.height
        face = z_plane(canvas, self.z, self.x - 0.35 * h, self.x + 0.35 * h, 0.0, h)
        if face is None:
            return
        s = (face.a - self.x) * self.facing / (h * self.squash)
        t = face.b / h
        grain, fine, _ = canvas.noise(face.window)
        hip, shoulder = 0.52, 0.82
        head = ellipse(s, t, 0.01, 0.93, 0.058, 0.068)
        hair = head & ((t > 0.955) | (s < -0.03))
        torso_w = 0.09 + 0.035 * np.clip((t - hip) / (shoulder - hip), 0, 1)
        torso = (t > hip - 0.02) & (t < shoulder + 0.04) & (np.abs(s) < torso_w)
        torso &= ~((t > shoulder) & (np.abs(s) > torso_w - (t - shoulder) * 1.5))
        neck = (np.abs(s) < 0.03) & (t > shoulder) & (t < 0.88)
        arm_r = 0.032
        arms = capsule(s, t, (-0.1, 0.8), (-0.1 - self.stride * 0.4, 0.5), arm_r)
        arms |= capsule(s, t, (0.1, 0.8), (0.1 + self.stride * 0.4, 0.5), arm_r)
        legs = capsule(s, t, (-0.045, hip), (-0.045 - self.stride, 0.03), 0.045)
        legs |= capsule(s, t, (0.045, hip), (0.045 + self.stride, 0.03), 0.045)
        shoes = (t < 0.035) & (
            (np.abs(s + 0.045 + self.stride - 0.02) < 0.06)
            | (np.abs(s - 0.045 - self.stride - 0.02) < 0.06)
        )
        skirt = self.skirt & (t > 0.3) & (t < hip) & (np.abs(s) < 0.09 + (hip - t) * 0.35)
        rgb = solid(s.shape, self.legs)
        put_rgb(rgb, skirt | torso | arms, self.top)
        put_rgb(rgb, head | neck, self.skin)
        put_rgb(rgb, hair, self.hair)
        put_rgb(rgb, shoes, 0.08)
        hands = arms & (t < 0.56)
        put_rgb(rgb, hands, self.skin)
        rgb = textured(rgb, grain, fine, 0.12, 0.8 + 0.3 * t)
        mask = head | torso | neck | arms | legs | shoes | skirt
        canvas.paint(
            face.window, mask & face.inside, self.z, PERSON, rgb, tint=light.on(TOWARDS_CAMERA)
        )


# Side views in metres, for a bike facing +u with its ground contact at v = 0.
BIKE = {
    "rear": (-0.52, 0.34),
    "front": (0.53, 0.34),
    "crank": (0.0, 0.3),
    "seat": (-0.14, 0.82),
    "head": (0.4, 0.84),
    "head_low": (0.43, 0.68),
    "bar": (0.36, 1.0),
    "radius": 0.34,
}
MOTO = {"rear": (-0.72, 0.31), "front": (0.74, 0.31), "radius": 0.31}


@dataclass
class Bike:
    """A bicycle or motorcycle in side view at (x, z), optionally ridden, ``squash`` < 1
    shortening it for an oblique view."""

    x: float
    z: float
    motor: bool
    facing: int
    squash: float
    frame: np.ndarray
    rider: Person | None = None
    helmet: np.ndarray | None = None

    def draw(self, canvas: Canvas, light: Light) -> None:
        reach = 1.15 * self.squash
        face = z_plane(canvas, self.z, self.x - reach, self.x + reach, 0.0, 1.9)
        if face is None:
            return
        u = (face.a - self.x) * self.facing / self.squash
        v = face.b
        grain, fine, _ = canvas.noise(face.window)
        tube = min_width(canvas, 0.03, self.z, MIN_TUBE) / self.squash
        shade = light.on(TOWARDS_CAMERA)
        if self.motor:
            mask, rgb, alpha = self._motorcycle(u, v, tube)
            label = MOTORCYCLE
        else:
            mask, rgb, alpha = self._bicycle(u, v, tube)
            label = BICYCLE
        rgb = textured(rgb, grain, fine, 0.08)
        canvas.paint(face.window, mask & face.inside, self.z, label, rgb, alpha, tint=shade)
        if self.rider is not None:
            rmask, rrgb = self._rider(u, v, tube)
            rrgb = textured(rrgb, grain, fine, 0.1)
            canvas.paint(face.window, rmask & face.inside, self.z - 0.01, RIDER, rrgb, tint=shade)

    def _wheel(self, u, v, centre, radius, tyre):
        d = np.hypot(u - centre[0], v - centre[1])
        return d < radius, np.abs(d - radius + tyre / 2) < tyre / 2, d

    def _bicycle(self, u, v, tube):
        r = BIKE["radius"]
        tyre = max(0.05, 1.8 * tube)
        mask = np.zeros(u.shape, bool)
        rgb = solid(u.shape, self.frame)
        alpha = np.ones(u.shape, np.float32)
        for hub in (BIKE["rear"], BIKE["front"]):
            disk, ring, d = self._wheel(u, v, hub, r, tyre)
            inner = disk & ~ring
            angle = np.arctan2(v[inner] - hub[1], u[inner] - hub[0])
            spokes = wrap(angle * 16 / (2 * np.pi), 1.0) < 0.2
            put_rgb(rgb, inner, np.where(spokes[:, None], 0.7, 0.15))
            alpha[inner] = np.where(spokes, 0.95, 0.7)
            put_rgb(rgb, ring, 0.06)
            put_rgb(rgb, disk & (d < 0.05), 0.6)
            alpha[disk & (d < 0.05)] = 1.0
            mask |= disk
        t = tube * 1.6
        for p, q in (
            ("seat", "crank"), ("crank", "head_low"), ("seat", "head"), ("seat", "rear"),
            ("crank", "rear"), ("head_low", "front"), ("head", "bar"), ("head", "head_low"),
        ):  # fmt: skip
            seg = capsule(u, v, BIKE[p], BIKE[q], t)
            mask |= seg
            put_rgb(rgb, seg, self.frame)
            alpha[seg] = 1.0
        saddle = ellipse(u, v, -0.16, 0.9, 0.12, max(0.035, tube))
        bar = capsule(u, v, (0.28, 1.02), (0.42, 1.0), t)
        for part in (saddle, bar):
            mask |= part
            put_rgb(rgb, part, 0.08)
            alpha[part] = 1.0
        return mask, rgb, alpha

    def _motorcycle(self, u, v, tube):
        r = MOTO["radius"]
        mask = np.zeros(u.shape, bool)
        rgb = solid(u.shape, [0.3, 0.3, 0.32])
        for hub in (MOTO["rear"], MOTO["front"]):
            disk, ring, d = self._wheel(u, v, hub, r, 0.12)
            mask |= disk
            put_rgb(rgb, disk, 0.35)
            put_rgb(rgb, ring, 0.05)
            put_rgb(rgb, disk & (d < 0.07), 0.55)
        # A solid mass between the wheels (engine, tank, fairing) tells it from a bicycle.
        engine = ellipse(u, v, 0.0, 0.45, 0.38, 0.26)
        tank = ellipse(u, v, 0.1, 0.78, 0.46, 0.19)
        fairing = ellipse(u, v, 0.5, 0.85, 0.2, 0.22)
        seat = ellipse(u, v, -0.38, 0.84, 0.34, 0.1)
        tail = capsule(u, v, (-0.4, 0.78), (-0.82, 0.68), 0.1)
        fork = capsule(u, v, MOTO["front"], (0.52, 1.0), 0.06)
        bar = capsule(u, v, (0.42, 1.08), (0.62, 1.02), 0.03)
        exhaust = capsule(u, v, (-0.1, 0.28), (-0.85, 0.4), 0.05)
        headlight = ellipse(u, v, 0.64, 0.92, 0.07, 0.08)
        mask |= engine | tank | fairing | seat | tail | fork | bar | exhaust | headlight
        put_rgb(rgb, engine, [0.2, 0.2, 0.22])
        put_rgb(rgb, exhaust, [0.7, 0.7, 0.72])
        put_rgb(rgb, tank | tail | fairing, self.frame)
        put_rgb(rgb, seat, 0.06)
        put_rgb(rgb, fork | bar, 0.4)
        put_rgb(rgb, headlight, [1.0, 0.95, 0.8])
        return mask, rgb, None

    def _rider(self, u, v, tube):
        """A seated rider leaning towards the handlebar."""
        p = self.rider
        assert p is not None
        if self.motor:
            hip, hand, foot = (-0.32, 0.92), (0.5, 1.08), (0.05, 0.4)
        else:
            hip, hand, foot = (-0.16, 0.98), (0.36, 1.02), (0.02, 0.22)
        scale = p.height / 1.75
        shoulder = (hip[0] + 0.22 * scale, hip[1] + 0.55 * scale)
        head_c = (shoulder[0] + 0.08 * scale, shoulder[1] + 0.2 * scale)
        knee = ((hip[0] + foot[0]) / 2 + 0.22, (hip[1] + foot[1]) / 2 + 0.1)
        torso = capsule(u, v, hip, shoulder, 0.14 * scale)
        arm = capsule(u, v, shoulder, hand, 0.045 * scale)
        thigh = capsule(u, v, hip, knee, 0.075 * scale)
        shin = capsule(u, v, knee, foot, 0.055 * scale)
        head = ellipse(u, v, head_c[0], head_c[1], 0.1 * scale, 0.115 * scale)
        helmet = head & (v > head_c[1] - 0.01 * scale) if self.helmet is not None else head & False
        rgb = solid(u.shape, p.legs)
        put_rgb(rgb, torso | arm, p.top)
        put_rgb(rgb, head, p.skin)
        if self.helmet is not None:
            put_rgb(rgb, helmet, self.helmet)
        put_rgb(rgb, capsule(u, v, foot, (foot[0] + 0.08, foot[1]), 0.04), 0.08)
        return torso | arm | thigh | shin | head, rgb


@dataclass
class Vehicle:
    """A car, truck, bus or tram as one or two boxes between X0 and X1 from z0 (the end
    towards the camera). ``front`` tells whether that end is the vehicle's front (oncoming)."""

    kind: str
    x0: float
    x1: float
    z: float
    length: float
    height: float
    color: np.ndarray
    accent: np.ndarray
    front: bool

    @property
    def label(self) -> int:
        return {"car": CAR, "truck": TRUCK, "bus": BUS, "tram": TRAIN}[self.kind]

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    def boxes(self) -> list[tuple[float, float, float, str]]:
        """(z0, z1, height, part) of the boxes the vehicle is made of."""
        z0, z1 = self.z, self.z + self.length
        if self.kind != "truck":
            return [(z0, z1, self.height, "body")]
        cab = 2.3
        if self.front:  # cab towards the camera, cargo box behind it
            return [
                (z0, z0 + cab, self.height * 0.8, "cab"),
                (z0 + cab + 0.2, z1, self.height, "cargo"),
            ]
        return [
            (z0, z1 - cab - 0.2, self.height, "cargo"),
            (z1 - cab, z1, self.height * 0.8, "cab"),
        ]

    def draw(self, canvas: Canvas, light: Light) -> None:
        self._shadow(canvas)
        for z0, z1, height, part in self.boxes():
            side_x = self.x1 if self.x1 < 0 else self.x0 if self.x0 > 0 else None
            if side_x is not None:
                face = x_plane(canvas, side_x, z0, z1, 0.0, height)
                if face is not None:
                    s = face.a - z0
                    if self.front:
                        s = (z1 - z0) - s
                    mask, rgb = self._side(s, face.b, z1 - z0, height, part, canvas, face)
                    n = (-1.0 if side_x > 0 else 1.0, 0.0, 0.0)  # facing the street centre
                    canvas.paint(
                        face.window,
                        mask & face.inside,
                        face.depth,
                        self.label,
                        rgb,
                        tint=light.on(n),
                    )
            end = z_plane(canvas, z0, self.x0, self.x1, 0.0, height)
            if end is not None:
                u = end.a - self.x0
                mask, rgb = self._end(u, end.b, height, part, canvas, end)
                canvas.paint(
                    end.window,
                    mask & end.inside,
                    z0,
                    self.label,
                    rgb,
                    tint=light.on(TOWARDS_CAMERA),
                )
            if self.kind == "tram":
                self._pantograph(canvas, light, z0 + 0.3 * (z1 - z0), height)

    def _shadow(self, canvas: Canvas) -> None:
        """Darken the ground under the vehicle (contact shadow)."""
        face = y_plane(
            canvas, 0.0, self.x0 - 0.25, self.x1 + 0.25, self.z - 0.3, self.z + self.length + 0.3
        )
        if face is None:
            return
        region = face.window.region
        near = face.inside & (np.abs(canvas.depth[region] - face.depth) < 0.05 * face.depth + 0.1)
        X, z = face.a, face.b
        edge = np.minimum(
            np.minimum(X - self.x0 + 0.25, self.x1 + 0.25 - X),
            np.minimum(z - self.z + 0.3, self.z + self.length + 0.3 - z),
        )
        dark = 1.0 - 0.55 * np.clip(edge / 0.5, 0, 1)
        scale_rgb(canvas.photo[region], near, dark)

    def _glass(self, v, top) -> np.ndarray:
        g = np.clip((v - top + 1.0), 0, 1)[..., None]
        return np.array([0.08, 0.1, 0.13], np.float32) + g * np.array([0.25, 0.3, 0.38], np.float32)

    def _end(self, u, v, height, part, canvas, face):
        """The face at the camera end: rear or front of a car/truck cab/cargo/bus/tram."""
        w = self.width
        grain, fine, _ = canvas.noise(face.window)
        rgb = textured(self.color, grain, fine, 0.04, 0.85 + 0.2 * (v / height))
        mask = np.ones(u.shape, bool)
        c = np.abs(u - w / 2)  # distance from the centre line
        if self.kind == "car":
            belt = height * 0.62
            cabin = c < w / 2 - 0.1 - (v - belt) * 0.45
            mask = (v < belt) | cabin
            glass = (v > belt + 0.05) & (v < height - 0.07) & (c < w / 2 - 0.18 - (v - belt) * 0.45)
            put_rgb(rgb, glass, self._glass(v[glass], height))
            lamps = (v > belt - 0.25) & (v < belt - 0.05) & (c > w / 2 - 0.35)
            put_rgb(rgb, lamps, [1.0, 0.95, 0.8] if self.front else [0.75, 0.06, 0.05])
            if self.front:
                put_rgb(rgb, (v > 0.35) & (v < belt - 0.3) & (c < 0.45), 0.08)  # grille
        elif part == "cargo":
            scale_rgb(rgb, (np.abs(u - w / 2) < 0.02) & (v > 1.1), 0.5)  # door split
            put_rgb(rgb, (np.abs(np.abs(u - w / 2) - 0.25) < 0.04) & (np.abs(v - 2.0) < 0.35), 0.3)
        else:  # bus, tram, truck cab
            if self.front:
                lo = 1.7 if part == "cab" else 0.95
                wind = (v > lo) & (v < height - 0.45) & (c < w / 2 - 0.12)
                put_rgb(rgb, wind, self._glass(v[wind], height))
                if self.kind != "truck":  # destination display
                    sign = (v > height - 0.4) & (v < height - 0.12) & (c < w / 2 - 0.3)
                    put_rgb(rgb, sign, [0.05, 0.05, 0.05])
                    put_rgb(rgb, sign & (wrap(u * 7, 1.0) < 0.5), [1.0, 0.6, 0.1])
            else:
                wind = (v > height - 1.1) & (v < height - 0.35) & (c < w / 2 - 0.2)
                put_rgb(rgb, wind, self._glass(v[wind], height))
                scale_rgb(
                    rgb, (v > 0.6) & (v < 1.3) & (c < w / 2 - 0.4) & (wrap(v * 12, 1.0) < 0.5), 0.5
                )
            if self.kind == "tram":  # white upper body, rounded roof corners
                put_rgb(rgb, (v > height * 0.42) & ~wind, 0.88)
                mask &= ~((v > height - 0.35) & (c > w / 2 - (v - height + 0.35) * 1.2))
            lamps = (v > 0.45) & (v < 0.75) & (c > w / 2 - 0.35)
            put_rgb(rgb, lamps, [1.0, 0.95, 0.8] if self.front else [0.75, 0.06, 0.05])
        put_rgb(rgb, v < 0.25, 0.05)
        put_rgb(rgb, (v < 0.5) & (v > 0.3) & (c < 0.26), 0.9)  # number plate
        return mask, rgb

    def _side(self, s, v, length, height, part, canvas, face):
        """The side facing the street centre; ``s`` runs from the vehicle's rear."""
        grain, fine, _ = canvas.noise(face.window)
        rgb = textured(self.color, grain, fine, 0.04, 0.85 + 0.2 * (v / height))
        mask = np.ones(s.shape, bool)
        wheels: list[float] = []
        r = 0.32
        if self.kind == "car":
            belt = height * 0.62
            lo = 0.7 + (v - belt) * 0.6
            hi = length - 1.2 - (v - belt) * 1.3
            cabin = (s > lo) & (s < hi)
            mask = (v < belt) | cabin
            glass = (v > belt + 0.05) & (v < height - 0.07) & (s > lo + 0.1) & (s < hi - 0.1)
            glass &= np.abs(s - length * 0.5) > 0.06
            put_rgb(rgb, glass, self._glass(v[glass], height))
            scale_rgb(rgb, np.abs(s - length * 0.52) < 0.02, 0.6)
            wheels = [0.8, length - 0.85]
        elif part == "cargo":
            put_rgb(rgb, v < 1.0, 0.12)
            band = (v > 1.6) & (v < 2.1)
            put_rgb(rgb, band, self.accent)
            wheels = [0.9, 2.1]
            r = 0.48
        elif part == "cab":
            glass = (v > 1.7) & (v < height - 0.3) & (s > 0.3) & (s < 1.6)
            put_rgb(rgb, glass, self._glass(v[glass], height))
            put_rgb(rgb, v < 0.8, 0.12)
            wheels = [1.3]
            r = 0.48
        else:  # bus or tram
            lo, hi = (1.15, height - 0.45) if self.kind == "bus" else (1.2, height - 0.5)
            pitch = 1.5 if self.kind == "bus" else 1.8
            band = (v > lo) & (v < hi)
            pillar = wrap(s, pitch) < 0.12
            put_rgb(rgb, band & ~pillar, self._glass(v[band & ~pillar], hi))
            door_pitch = 6.0 if self.kind == "bus" else 7.0
            door = (wrap(s, door_pitch) > door_pitch - 1.3) & (v > 0.3) & (v < hi)
            put_rgb(rgb, door, self._glass(v[door], hi) * 0.8)
            if self.kind == "tram":
                upper = v > hi
                put_rgb(rgb, upper, 0.88 * (0.95 + 0.1 * fine[upper])[:, None])
                put_rgb(rgb, (v > lo - 0.25) & (v < lo), 0.88)
            else:
                put_rgb(rgb, v < 0.35, 0.15)
            wheels = [2.4, length - 3.0] if self.kind == "bus" else []
            r = 0.5
        for sw in wheels:
            # On a side (X = const), s depends on the column only: draw over the wheel's columns.
            columns = np.nonzero(np.abs(s[0] - sw) < r)[0]
            if columns.size == 0:
                continue
            box = (slice(None), slice(columns[0], columns[-1] + 1))
            d = np.hypot(s[box] - sw, v[box] - r)
            put_rgb(rgb[box], d < r, 0.05)
            put_rgb(rgb[box], d < 0.55 * r, 0.45)
        return mask, rgb

    def _pantograph(self, canvas: Canvas, light: Light, z: float, height: float) -> None:
        cx = (self.x0 + self.x1) / 2
        face = z_plane(canvas, z, cx - 1.0, cx + 1.0, height, height + 1.4)
        if face is None:
            return
        u, v = face.a - cx, face.b - height
        t = min_width(canvas, 0.04, z, MIN_TUBE)
        arm = capsule(u, v, (-0.5, 0.0), (0.1, 0.7), t) | capsule(u, v, (0.1, 0.7), (-0.3, 1.3), t)
        arm |= capsule(u, v, (-0.8, 1.3), (0.8, 1.3), t)
        canvas.paint(
            face.window, arm & face.inside, z, TRAIN, np.float32(0.2) * light.on(TOWARDS_CAMERA)
        )
