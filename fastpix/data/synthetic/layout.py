"""Where everything in a synthetic street goes, decided in metres before anything is drawn.

``sample_street`` picks the camera, the light, the road's cross-section (lanes, parking strips,
tram rails, a zebra crossing), each side's profile from the kerb outwards and the building
rows; ``populate`` places the things standing in the street. Only ``rng`` decides, so a seed
gives the same street at every image size.

A side of the street is one of:

- ``plain``: sidewalk up to the facades;
- ``garden``: sidewalk, a wall, fence or hedge line, front gardens (terrain), then facades;
- ``park``: sidewalk, a barrier line, a wide lawn with trees, buildings far behind.

Any side may also have a grass strip between the kerb and the sidewalk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from fastpix.data.synthetic.common import (
    BRICK,
    BUS_COLORS,
    CAR_COLORS,
    CLOTHES,
    FACADE_COLORS,
    RIDER_CLOTHES,
    SKIN,
    TRAM_COLORS,
    Light,
    sample_light,
)
from fastpix.data.synthetic.furniture import Barrier, Pole, Sign, TrafficLight, Tree
from fastpix.data.synthetic.road_users import Bike, Person, Vehicle

HAIR = np.array([[0.08, 0.06, 0.05], [0.3, 0.2, 0.1], [0.7, 0.6, 0.35], [0.6, 0.6, 0.6]])
HELMETS = np.array([[0.9, 0.9, 0.88], [0.1, 0.1, 0.1], [0.8, 0.2, 0.1], [0.2, 0.4, 0.8]])
AWNINGS = np.array([[0.6, 0.1, 0.1], [0.1, 0.3, 0.2], [0.2, 0.2, 0.45], [0.55, 0.45, 0.2]])
PAVING = np.array([[0.62, 0.62, 0.6], [0.66, 0.6, 0.52], [0.6, 0.45, 0.4], [0.55, 0.56, 0.58]])
# Painted or galvanised dark, so that poles stand out against pale facades.
POLE_COLORS = np.array(
    [[0.3, 0.31, 0.33], [0.16, 0.26, 0.2], [0.12, 0.12, 0.13], [0.4, 0.42, 0.45]]
)
# Bicycles have bright frames; motorcycles dark or metallic bodies.
BIKE_FRAMES = np.array(
    [[0.85, 0.1, 0.1], [0.1, 0.45, 0.85], [0.95, 0.8, 0.1], [0.2, 0.7, 0.3], [0.92, 0.92, 0.9],
     [0.9, 0.45, 0.1]]
)  # fmt: skip
MOTO_BODIES = np.array(
    [[0.08, 0.08, 0.09], [0.3, 0.31, 0.33], [0.5, 0.06, 0.06], [0.1, 0.15, 0.35]]
)
SIGNAL_HOUSINGS = np.array([[0.08, 0.08, 0.08], [0.15, 0.2, 0.15], [0.75, 0.6, 0.1]])
SIGN_KINDS = ("round", "triangle", "yield", "square", "diamond", "octagon")
PARKING_WIDTH = 2.2


@dataclass
class BuildingRow:
    """Buildings whose facades lie on the plane X = ``x``, as segments along z starting at
    ``starts``; a zero height is a gap. Per-segment arrays describe each facade."""

    x: float
    side: int  # -1 left of the camera, +1 right
    starts: np.ndarray
    heights: np.ndarray
    colors: np.ndarray  # (n, 3)
    material: np.ndarray  # 0 plaster, 1 brick, 2 concrete
    floor: np.ndarray  # storey height
    ground_floor: np.ndarray
    spacing: np.ndarray  # window pitch along the facade
    win_w: np.ndarray
    win_h: np.ndarray
    shops: np.ndarray  # bool: shop windows on the ground floor
    awning: np.ndarray  # (n, 3)
    end_depth: float = 12.0  # how deep the buildings are (their end walls' width)

    def segment(self, z: np.ndarray) -> np.ndarray:
        """Index of the building at each ``z`` (the first one before the row starts)."""
        # Counting the starts at or before z: for a row's dozen buildings several times faster
        # than np.searchsorted, whose binary search mispredicts on unsorted queries.
        index = np.zeros(np.shape(z), np.intp)
        for start in self.starts[1:]:
            index += z >= start
        return index

    def height_at(self, z: np.ndarray) -> np.ndarray:
        return np.where(z < self.starts[0], 0.0, self.heights[self.segment(z)])


@dataclass
class Side:
    """One side of the street from the kerb outwards (X ranges are (low, high))."""

    sign: int  # -1 left, +1 right
    kind: str  # "plain", "garden" or "park"
    kerb: float
    lawn: tuple[float, float] | None  # grass strip between kerb and sidewalk
    sidewalk: tuple[float, float]
    yard: tuple[float, float] | None  # gardens or park behind the boundary
    boundary: float | None  # X of the barrier line at the sidewalk's outer edge

    def bands(self) -> list[tuple[float, float, str]]:
        strips = [(self.lawn, "terrain"), (self.sidewalk, "sidewalk"), (self.yard, "terrain")]
        return [(x0, x1, kind) for (x0, x1), kind in ((s, k) for s, k in strips if s)]

    @property
    def outer(self) -> float:
        """X where the ground strips end and the front building row stands."""
        last = self.yard or self.sidewalk
        return last[0] if self.sign < 0 else last[1]


@dataclass
class Street:
    """Everything decided about a scene before drawing it."""

    focal_scale: float  # focal length / sqrt(width × height)
    cam_height: float
    horizon: float  # row of the horizon, as a fraction of the height
    center: float  # column of the vanishing point, as a fraction of the width
    light: Light
    road: tuple[float, float]  # X of the left and right road edges
    lanes: np.ndarray  # X of lane boundaries (dashed lines)
    lane_centres: np.ndarray
    lane_width: float
    parking: tuple[bool, bool]  # parking strip inside the road on the left, right
    oncoming: int  # lanes counted from the left that drive towards the camera
    sides: tuple[Side, Side]
    front: list[BuildingRow]
    back: list[BuildingRow]
    z_end: float  # where the street ends in a cross row of buildings or trees
    end_kind: str  # "buildings", "trees" or "open"
    end_heights: np.ndarray  # skyline of the cross row, per 6 m of X
    crossing: float | None  # z of a zebra crossing
    rails: float | None  # X of a tram track's centre
    asphalt: np.ndarray
    paving: np.ndarray
    tile: float
    grass: np.ndarray
    marking: np.ndarray
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    clouds: float
    haze: float  # metres over which the haze reaches 63 %
    hood: float  # height of the ego-vehicle bonnet (fraction of the frame), 0 for none

    @property
    def bands(self) -> list[tuple[float, float, str]]:
        """(X0, X1, kind) ground strips beside the road, kind "sidewalk" or "terrain"."""
        return sorted(band for side in self.sides for band in side.bands())


def _pick(rng: np.random.Generator, table: np.ndarray) -> np.ndarray:
    return np.asarray(table[rng.integers(0, len(table))], np.float32)


def sample_row(
    rng: np.random.Generator, x: float, side: int, z_end: float, gaps: float, tall: float
) -> BuildingRow:
    """A row of buildings from behind the camera to ``z_end``; ``gaps`` is the chance of a
    gap between two buildings, ``tall`` (0..1) how high the row tends to be."""
    starts, heights = [], []
    z = rng.uniform(-20, 0)
    while z < z_end:
        if starts and rng.random() < gaps:
            starts.append(z)
            heights.append(0.0)
            z += rng.uniform(5, 14)
        starts.append(z)
        heights.append(rng.uniform(7, 11 + 14 * tall))
        z += rng.uniform(10, 35)
    n = len(starts)
    colors = FACADE_COLORS[rng.integers(0, len(FACADE_COLORS), n)] * rng.uniform(0.85, 1.1, (n, 1))
    material = rng.choice(3, n, p=[0.6, 0.2, 0.2])
    colors[material == 1] = BRICK * rng.uniform(0.8, 1.15, ((material == 1).sum(), 1))
    colors[material == 2] = rng.uniform(0.5, 0.68, ((material == 2).sum(), 1))
    win_w = rng.uniform(0.9, 1.6, n)
    return BuildingRow(
        x=x,
        side=side,
        starts=np.array(starts, np.float32),
        heights=np.array(heights, np.float32),
        colors=colors.astype(np.float32),
        material=material,
        floor=rng.uniform(2.9, 3.6, n).astype(np.float32),
        ground_floor=rng.uniform(3.6, 4.6, n).astype(np.float32),
        spacing=(win_w + rng.uniform(0.9, 2.0, n)).astype(np.float32),
        win_w=win_w.astype(np.float32),
        win_h=rng.uniform(1.2, 1.8, n).astype(np.float32),
        shops=rng.random(n) < 0.55,
        awning=AWNINGS[rng.integers(0, len(AWNINGS), n)].astype(np.float32),
    )


def _sample_side(rng: np.random.Generator, sign: int, kerb: float, kind: str) -> Side:
    x = kerb

    def strip(width: float) -> tuple[float, float]:
        nonlocal x
        x0, x1 = sorted((x, x + sign * width))
        x += sign * width
        return x0, x1

    if kind == "plain":
        lawn = strip(rng.uniform(1.2, 3.0)) if rng.random() < 0.5 else None
        sidewalk = strip(rng.uniform(2.5, 5.0))
    else:  # narrower, so that the barrier line is close to the road
        lawn = strip(rng.uniform(1.0, 2.0)) if rng.random() < 0.15 else None
        sidewalk = strip(rng.uniform(1.8, 3.2))
    boundary = yard = None
    if kind != "plain":
        boundary = x if kind == "garden" or rng.random() < 0.6 else None  # parks may be open
        yard = strip(rng.uniform(2.0, 6.0) if kind == "garden" else rng.uniform(6.0, 15.0))
    return Side(sign, kind, kerb, lawn, sidewalk, yard, boundary)


def sample_street(rng: np.random.Generator) -> Street:
    """Camera, light, road, sides and building rows of one scene."""
    light = sample_light(rng)
    n_lanes = int(rng.choice([2, 3, 4], p=[0.55, 0.25, 0.2]))
    lane_width = rng.uniform(3.0, 3.6)
    own = int(rng.integers(n_lanes // 2, n_lanes))  # the camera drives on the right
    first = -(own + 0.5) * lane_width + rng.uniform(-0.4, 0.4)
    lane_centres = first + lane_width * (np.arange(n_lanes) + 0.5)
    lanes = first + lane_width * np.arange(1, n_lanes)
    kinds = [str(k) for k in rng.choice(["plain", "garden", "park"], 2, p=[0.35, 0.4, 0.25])]
    parking = tuple(bool(rng.random() < (0.35 if k == "plain" else 0.15)) for k in kinds)
    road = (
        first - PARKING_WIDTH * parking[0],
        first + n_lanes * lane_width + PARKING_WIDTH * parking[1],
    )
    sides = (_sample_side(rng, -1, road[0], kinds[0]), _sample_side(rng, 1, road[1], kinds[1]))
    z_end = float(rng.uniform(70, 220))
    front, back = [], []
    for side in sides:
        tall = rng.random()
        gaps = 0.85 if side.kind == "park" else rng.uniform(0.05, 0.35)
        front.append(sample_row(rng, side.outer, side.sign, z_end, gaps, tall))
        behind = side.outer + side.sign * rng.uniform(12, 25)
        back.append(sample_row(rng, behind, side.sign, z_end, 0.0, tall))

    sky_top = np.array([0.3, 0.5, 0.85]) if light.shadows else np.array([0.72, 0.75, 0.8])
    grass = np.array([0.36, 0.5, 0.2]) * rng.uniform(0.85, 1.15, 3)
    if rng.random() < 0.2:  # gravel or dry ground
        grass = np.array([0.5, 0.45, 0.36]) * rng.uniform(0.9, 1.1)
    return Street(
        focal_scale=rng.uniform(0.6, 0.8),
        cam_height=rng.uniform(1.5, 1.8),
        horizon=rng.uniform(0.42, 0.52),
        center=rng.uniform(0.4, 0.6),
        light=light,
        road=road,
        lanes=lanes,
        lane_centres=lane_centres,
        lane_width=lane_width,
        parking=parking,
        oncoming=n_lanes // 2 if rng.random() < 0.7 else 0,
        sides=sides,
        front=front,
        back=back,
        z_end=z_end,
        end_kind=str(rng.choice(["buildings", "trees", "open"], p=[0.5, 0.3, 0.2])),
        end_heights=rng.uniform(6, 25, 64).astype(np.float32),
        crossing=float(rng.uniform(10, 30)) if rng.random() < 0.45 else None,
        rails=float(rng.choice(lane_centres)) if rng.random() < 0.5 else None,
        asphalt=(rng.uniform(0.3, 0.42) * rng.uniform(0.95, 1.05, 3)).astype(np.float32),
        paving=_pick(rng, PAVING) * rng.uniform(0.9, 1.08),
        tile=float(rng.uniform(0.3, 0.7)),
        grass=grass.astype(np.float32),
        marking=np.array([0.88, 0.88, 0.86], np.float32),
        sky_top=(sky_top * rng.uniform(0.9, 1.1, 3)).astype(np.float32),
        sky_horizon=(np.array([0.78, 0.84, 0.92]) * rng.uniform(0.95, 1.05, 3)).astype(np.float32),
        clouds=float(rng.uniform(0.0, 0.8)),
        haze=float(rng.uniform(120, 450)),
        hood=float(rng.uniform(0.04, 0.07)) if rng.random() < 0.25 else 0.0,
    )


def _along(rng: np.random.Generator, z0: float, z1: float, gap: tuple[float, float]) -> Iterator:
    """Positions from about z0 to z1, ``gap`` (min, max) metres apart."""
    z = z0 + rng.uniform(0, gap[1])
    while z < z1:
        yield float(z)
        z += rng.uniform(*gap)


def populate(rng: np.random.Generator, street: Street) -> list:
    """Everything standing in the street: objects with a depth ``z`` and a ``draw`` method."""
    things: list = []
    things += _traffic(rng, street)
    for side in street.sides:
        things += _furniture(rng, street, side)
        things += _plants_and_barriers(rng, street, side)
        things += _people(rng, street, side)
    if street.crossing is not None or rng.random() < 0.35:
        z = street.crossing - 1.5 if street.crossing is not None else rng.uniform(14, 40)
        for side in street.sides:
            things += _signal_pole(rng, side.kerb + side.sign * 0.6, z, side.sign)
    if street.crossing is not None:
        road_l, road_r = street.road
        for _ in range(int(rng.integers(0, 4))):
            x = rng.uniform(road_l + 1, road_r - 1)
            things.append(_sample_person(rng, x, street.crossing + rng.uniform(0.5, 3.5)))
    for _ in range(int(rng.choice([0, 1, 1, 2, 2, 3]))):
        side = street.sides[int(rng.integers(0, 2))]
        x = side.kerb - side.sign * rng.uniform(0.8, 1.8)
        things.append(_sample_bike(rng, x, rng.uniform(3.5, 9), rng.random() < 0.45, ridden=True))
    return things


def _traffic(rng: np.random.Generator, street: Street) -> list:
    """Moving vehicles lane by lane (a tram on the rails), parked cars in parking strips."""
    things: list = []
    for k, xc in enumerate(street.lane_centres):
        on_rails = street.rails is not None and abs(xc - street.rails) < 0.1
        own = abs(xc) < street.lane_width / 2
        z = (8.0 if own else 3.0) + rng.uniform(0, 12)
        while z < min(street.z_end, 75):
            r = rng.random()
            if on_rails and r < 0.7:
                kind = "tram"
            else:
                kind = "car" if r < 0.7 else "truck" if r < 0.85 else "bus"
            x = xc + rng.uniform(-0.3, 0.3)
            vehicle = _sample_vehicle(rng, kind, x, z, front=k < street.oncoming)
            things.append(vehicle)
            z += vehicle.length + rng.uniform(6, 30)
    for side, present in zip(street.sides, street.parking):
        if not present:
            continue
        xc = side.kerb - side.sign * PARKING_WIDTH / 2
        z = rng.uniform(-2, 6)
        while z < 60:
            kind = "truck" if rng.random() < 0.08 else "car"
            vehicle = _sample_vehicle(rng, kind, xc, z, front=rng.random() < 0.5)
            things.append(vehicle)
            z += vehicle.length + rng.uniform(0.6, 10)
    return things


def _furniture(rng: np.random.Generator, street: Street, side: Side) -> list:
    """Street lamps, sign posts and signal poles along the kerb."""
    things: list = []
    x = side.kerb + side.sign * 0.5
    for z in _along(rng, 3.0, 60.0, (9.0, 24.0)):
        r = rng.random()
        if r < 0.45:
            arm = -side.sign * rng.uniform(1.2, 2.5)
            color = _pick(rng, POLE_COLORS)
            things.append(Pole(x, z, rng.uniform(6.5, 9.0), color, arm=arm, lamp=True))
        elif r < 0.85:
            things += _sign_post(rng, x, z)
        else:
            things += _signal_pole(rng, x, z, side.sign)
    return things


def _sign_post(rng: np.random.Generator, x: float, z: float) -> list:
    height = rng.uniform(2.6, 3.4)
    things: list = [Pole(x, z, height, _pick(rng, POLE_COLORS))]
    y = height - 0.35
    for _ in range(int(rng.choice([1, 1, 2]))):
        things.append(Sign(x, z, y, str(rng.choice(SIGN_KINDS)), rng.uniform(0.6, 0.85)))
        y -= 0.9
    return things


def _signal_pole(rng: np.random.Generator, x: float, z: float, sign: int) -> list:
    """A traffic-light pole: a head on the pole, or a mast arm with a head over the road."""
    color = _pick(rng, POLE_COLORS)
    housing = SIGNAL_HOUSINGS[rng.choice(3, p=[0.6, 0.25, 0.15])].astype(np.float32)
    lit = int(rng.integers(0, 3))
    backplate = bool(rng.random() < 0.5)
    things: list = []
    if rng.random() < 0.5:
        arm = -sign * rng.uniform(3.0, 6.0)
        height = rng.uniform(5.2, 6.2)
        things.append(Pole(x, z, height, color, arm=arm))
        head_x = x + arm * rng.uniform(0.6, 0.95)
        things.append(TrafficLight(head_x, z, height - 1.3, lit, housing, backplate))
    else:
        height = rng.uniform(3.5, 4.5)
        things.append(Pole(x, z, height, color))
        things.append(TrafficLight(x, z, height - 1.1, lit, housing, backplate))
    if rng.random() < 0.5:
        kind = str(rng.choice(["round", "square"]))
        things.append(Sign(x, z, rng.uniform(2.0, 2.4), kind, 0.6))
    return things


def _plants_and_barriers(rng: np.random.Generator, street: Street, side: Side) -> list:
    """Trees on lawns, in yards and along sidewalks; barrier lines and walls in gaps."""
    things: list = []
    for strip, chance, gap in ((side.lawn, 0.8, (6, 14)), (side.yard, 0.75, (5, 14))):
        if strip is not None and rng.random() < chance:
            for z in _along(rng, 1.0, min(street.z_end, 80.0), gap):
                things.append(_sample_tree(rng, rng.uniform(strip[0] + 0.5, strip[1] - 0.5), z))
    if side.kind == "plain" and rng.random() < 0.4:
        x = side.sidewalk[0 if side.sign < 0 else 1] - side.sign * 0.8
        for z in _along(rng, 3.0, min(street.z_end, 70.0), (7.0, 15.0)):
            things.append(_sample_tree(rng, x, z))
    if side.boundary is not None:
        things += _barrier_line(rng, side.boundary, side.sign, 0.0, min(street.z_end, 90.0))
    row = next(r for r in street.front if r.side == side.sign)
    ends = np.append(row.starts[1:], street.z_end)
    for start, end, height in zip(row.starts, ends, row.heights):
        if height == 0 and rng.random() < 0.7:
            x = row.x - row.side * 0.05
            things += _barrier_line(rng, x, side.sign, max(float(start), 1.0), float(end))
    return things


def _barrier_line(rng: np.random.Generator, x: float, sign: int, z0: float, z1: float) -> list:
    """Runs of wall, fence or hedge from z0 to z1 with short breaks."""
    things: list = []
    z = z0 + rng.uniform(0, 3)
    while z < z1:
        end = min(z + rng.uniform(8, 30), z1)
        kind = str(rng.choice(["wall", "fence", "hedge"], p=[0.4, 0.5, 0.1]))
        things.append(_sample_barrier(rng, kind, x, sign, z, end))
        z = end + rng.uniform(0.0, 4.0)
    return things


def _sample_barrier(rng, kind: str, x: float, sign: int, z0: float, z1: float) -> Barrier:
    if kind == "wall":
        style = int(rng.integers(0, 2))
        color = [[0.62, 0.6, 0.56], [0.55, 0.5, 0.44], [0.75, 0.72, 0.66]][rng.integers(0, 3)]
        height = rng.uniform(1.0, 2.8)
    elif kind == "fence":
        style = int(rng.integers(0, 3))
        color = [[0.45, 0.32, 0.2], [0.12, 0.14, 0.13], [0.5, 0.52, 0.5]][style]
        height = rng.uniform(1.2, 2.2)
    else:
        style = 0
        color = np.array([0.14, 0.27, 0.09]) * rng.uniform(0.8, 1.2, 3)
        height = rng.uniform(0.8, 1.7)
    color = (np.asarray(color) * rng.uniform(0.9, 1.1)).astype(np.float32)
    return Barrier(x, sign, z0, z1, height, kind, style, color)


def _sample_tree(rng: np.random.Generator, x: float, z: float) -> Tree:
    trunk = rng.uniform(1.8, 3.5)
    radius = rng.uniform(1.4, 3.2)
    k = int(rng.integers(3, 7))
    blobs = np.stack(
        [
            rng.normal(0, radius * 0.4, k),
            trunk + radius + rng.normal(0, radius * 0.35, k),
            radius * rng.uniform(0.55, 0.9, k),
            radius * rng.uniform(0.55, 0.9, k),
        ],
        axis=1,
    ).astype(np.float32)
    blobs[:, 1] = np.maximum(blobs[:, 1], trunk + blobs[:, 3] * 0.6)
    color = np.array([0.2, 0.33, 0.1]) * rng.uniform(0.75, 1.2, 3)
    return Tree(x, z, trunk, blobs, color.astype(np.float32))


def _people(rng: np.random.Generator, street: Street, side: Side) -> list:
    """Pedestrians and parked bicycles / motorcycles on one sidewalk."""
    things: list = []
    x0, x1 = side.sidewalk
    for _ in range(int(rng.choice(6, p=[0.1, 0.2, 0.25, 0.2, 0.15, 0.1]))):
        z = 2.5 + 10 * rng.random() ** 1.2
        things.append(_sample_person(rng, rng.uniform(x0 + 0.4, x1 - 0.4), z))
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        x = side.kerb + side.sign * 0.9
        things.append(_sample_bike(rng, x, rng.uniform(3, 9), rng.random() < 0.4, ridden=False))
    return things


def _sample_person(rng: np.random.Generator, x: float, z: float) -> Person:
    child = rng.random() < 0.1
    return Person(
        x=x,
        z=z,
        height=rng.uniform(1.1, 1.35) if child else rng.uniform(1.6, 1.92),
        facing=int(rng.choice([-1, 1])),
        stride=rng.uniform(0.0, 0.12),
        skin=_pick(rng, SKIN),
        hair=_pick(rng, HAIR),
        top=_pick(rng, CLOTHES) * rng.uniform(0.85, 1.15),
        legs=_pick(rng, CLOTHES[:4]) * rng.uniform(0.85, 1.15),
        skirt=bool(rng.random() < 0.15),
        squash=rng.uniform(0.95, 1.25),
    )


def _sample_bike(rng: np.random.Generator, x: float, z: float, motor: bool, ridden: bool) -> Bike:
    frame = _pick(rng, MOTO_BODIES if motor else BIKE_FRAMES)
    rider = helmet = None
    if ridden:
        rider = _sample_person(rng, x, z)
        rider.height = rng.uniform(1.65, 1.9)
        rider.top = _pick(rng, RIDER_CLOTHES)
        helmet = _pick(rng, HELMETS)
    return Bike(
        x=x,
        z=z,
        motor=motor,
        facing=int(rng.choice([-1, 1])),
        squash=rng.uniform(0.6, 1.0),
        frame=frame,
        rider=rider,
        helmet=helmet,
    )


def _sample_vehicle(rng, kind: str, xc: float, z: float, front: bool) -> Vehicle:
    """A car, truck, bus or tram centred on X = xc with its near end at z."""
    accent = None
    if kind == "car":
        w, length, h = rng.uniform(1.7, 1.9), rng.uniform(3.9, 4.8), rng.uniform(1.4, 1.6)
        color = _pick(rng, CAR_COLORS) * rng.uniform(0.9, 1.1)
    elif kind == "truck":
        w, length, h = 2.45, rng.uniform(6.5, 10.0), rng.uniform(3.2, 3.8)
        color = np.array([0.88, 0.88, 0.86], np.float32) * rng.uniform(0.75, 1.05)
        accent = _pick(rng, CLOTHES[4:])
    elif kind == "bus":
        w, length, h = 2.55, rng.uniform(11, 13), rng.uniform(3.0, 3.2)
        color = _pick(rng, BUS_COLORS) * rng.uniform(0.9, 1.08)
    else:
        w, length, h = rng.uniform(2.4, 2.65), rng.uniform(25, 40), rng.uniform(3.3, 3.5)
        color = _pick(rng, TRAM_COLORS) * rng.uniform(0.9, 1.08)
    return Vehicle(
        kind=kind,
        x0=xc - w / 2,
        x1=xc + w / 2,
        z=z,
        length=length,
        height=h,
        color=color.astype(np.float32),
        accent=(color if accent is None else accent).astype(np.float32),
        front=bool(front),
    )
