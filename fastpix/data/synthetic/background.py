"""The street itself: sky, ground (road, sidewalks, terrain), building rows and the cross row
that ends the street, and the shadows the buildings cast."""

from __future__ import annotations

import numpy as np

from fastpix.data.synthetic.common import (
    BUILDING,
    FACADE_COLORS,
    ROAD,
    SIDEWALK,
    SKY,
    TERRAIN,
    TOWARDS_CAMERA,
    UP,
    VEGETATION,
    Light,
    hash01,
    textured,
    wrap,
)
from fastpix.data.synthetic.layout import BuildingRow, Street
from fastpix.data.synthetic.raster import (
    NEAR,
    Canvas,
    put_rgb,
    scale_rgb,
    take_rgb,
    x_plane,
    y_plane,
    z_plane,
)


def draw_sky(canvas: Canvas, street: Street) -> None:
    """Fill every pixel nothing else covers with the sky: a gradient from the horizon up,
    with soft clouds."""
    cam = canvas.camera
    empty = np.isinf(canvas.depth)
    t = np.clip((cam.cy - canvas.rows) / max(cam.cy, 1.0), 0.0, 1.0) ** 0.7  # (h, 1)
    gradient = street.sky_horizon * (1 - t) + street.sky_top * t  # one colour per row
    rgb = np.take(gradient, np.nonzero(empty)[0], axis=0)
    if street.clouds > 0:
        cloud = canvas.coarse[empty] * 0.6 + canvas.mid[empty] * 0.4
        amount = np.clip((cloud - (1.0 - street.clouds)) * 3.0, 0.0, 0.85)[:, None]
        rgb = rgb * (1 - amount) + np.float32(0.93) * amount
    put_rgb(canvas.photo, empty, rgb)
    canvas.label[empty] = SKY


def draw_ground(canvas: Canvas, street: Street) -> None:
    """Road, sidewalks and terrain strips on the plane Y = 0, out to the end of the street."""
    face = y_plane(canvas, 0.0, -1e4, 1e4, NEAR, street.z_end)
    if face is None:
        return
    visible = canvas.visible(face.window, face.inside, face.depth)
    X = face.a
    label = np.full(X.shape, TERRAIN, np.uint8)
    road_l, road_r = street.road
    label[(road_l <= X) & (road_r >= X)] = ROAD
    for x0, x1, kind in street.bands:
        if kind == "sidewalk":
            label[(x0 <= X) & (x1 > X)] = SIDEWALK
    light = street.light.on(UP)
    noise = canvas.noise(face.window)
    # Each surface is shaded and drawn straight from the window's pixels of its kind.
    for kind, shader in ((ROAD, _asphalt), (SIDEWALK, _paving), (TERRAIN, _grass)):
        sel = visible & (label == kind)
        if sel.any():
            z = face.b[sel]
            rgb = shader(street, X[sel], z, *(n[sel] for n in noise))
            canvas.fill(face.window, sel, z, kind, rgb * light)


RAIL_RGB = np.array([0.62, 0.6, 0.58], np.float32)
KERB_RGB = np.array([0.7, 0.7, 0.68], np.float32)
BARE_RGB = np.array([0.45, 0.4, 0.3], np.float32)


def _asphalt(street: Street, X, z, grain, fine, coarse) -> np.ndarray:
    """Asphalt with grain, worn wheel tracks, lane marks, a zebra crossing and tram rails."""
    road_l, road_r = street.road
    factor = (1.0 + 0.1 * (0.6 * grain + 1.6 * fine - 0.8)) * (0.9 + 0.2 * coarse)
    first_lane = float(street.lane_centres[0])  # a Python float keeps the maths in float32
    lane_pos = wrap(X - first_lane, street.lane_width) / street.lane_width
    factor = np.where(np.abs(np.abs(lane_pos - 0.5) - 0.25) < 0.1, factor * 0.92, factor)
    half_line = 0.08
    mark = (np.abs(X - (road_l + 0.3)) < half_line) | (np.abs(X - (road_r - 0.3)) < half_line)
    for x in street.lanes.tolist():
        mark |= (np.abs(X - x) < half_line) & (wrap(z, 9.0) < 3.0)
    if street.crossing is not None:
        zebra = (z > street.crossing) & (z < street.crossing + 4.0) & (wrap(X, 1.0) < 0.5)
        stop = (z > street.crossing - 1.2) & (z < street.crossing - 0.8)
        mark |= zebra | stop
    rail = np.zeros(X.shape, bool)
    if street.rails is not None:
        for x in (street.rails - 0.72, street.rails + 0.72):
            rail |= np.abs(X - x) < 0.05
            factor = np.where(np.abs(np.abs(X - x) - 0.08) < 0.03, factor * 0.6, factor)
    what = mark.astype(np.intp)
    what[rail] = 2
    factor = np.where(mark, 0.8 + 0.25 * fine, factor)
    table = np.stack([street.asphalt, street.marking, RAIL_RGB])
    return np.take(table, what, axis=0) * factor[:, None].astype(np.float32)


def _paving(street: Street, X, z, grain, fine, coarse) -> np.ndarray:
    """Paving tiles with darker joints, and a light kerb beside the road."""
    road_l, road_r = street.road
    tile = street.tile
    factor = (1.0 + 0.06 * (0.6 * grain + 1.6 * fine - 0.8)) * (
        0.92 + 0.14 * hash01(np.floor(X / tile), np.floor(z / tile))
    )
    joint = (wrap(X, tile) < 0.07 * tile) | (wrap(z, tile) < 0.07 * tile)
    factor = np.where(joint, factor * 0.75, factor)
    kerb = (np.abs(X - road_l) < 0.22) | (np.abs(X - road_r) < 0.22)
    factor = np.where(kerb, 0.95 + 0.1 * fine, factor)
    table = np.stack([street.paving, KERB_RGB])
    return np.take(table, kerb.astype(np.intp), axis=0) * factor[:, None].astype(np.float32)


def _grass(street: Street, X, z, grain, fine, coarse) -> np.ndarray:
    """Grass (or gravel) with clumps and bare patches."""
    factor = (1.0 + 0.25 * (0.6 * grain + 1.6 * fine - 0.8))[:, None]
    bare = np.clip((coarse - 0.62) * 4, 0, 1)[:, None]
    return (street.grass * (1 - bare) + BARE_RGB * bare) * factor


# What a facade pixel shows, as an index into a per-building colour table.
WALL_SURFACE, FRAME, PANE, SHOP, AWNING, DOOR = range(6)
FRAME_RGB = np.array([0.85, 0.85, 0.83], np.float32)
PANE_RGB = np.array([0.2, 0.24, 0.3], np.float32)
SHOP_RGB = np.array([0.3, 0.25, 0.16], np.float32)
DOOR_RGB = np.array([0.25, 0.18, 0.12], np.float32)
SHOP_WIDTH = 5.0


def _facade_rgb(row: BuildingRow, seg: np.ndarray, s, v, grain, fine, coarse) -> np.ndarray:
    """Colours of facade points ``s`` metres along and ``v`` up building ``seg`` (1-D arrays
    of the visible pixels). Each pattern is evaluated only on the pixels it can apply to."""
    floor, gf = row.floor[seg], row.ground_floor[seg]
    spacing, win_w, win_h = row.spacing[seg], row.win_w[seg], row.win_h[seg]
    height, shops = row.heights[seg], row.shops[seg]
    # Brightness: plaster texture, then courses and panels for brick and concrete.
    factor = (1.0 + 0.05 * (0.6 * grain + 1.6 * fine - 0.8)) * (0.9 + 0.15 * coarse)
    material = row.material[seg]
    mortar = material == 1
    bs, bv = s[mortar], v[mortar]
    mortar[mortar] = (wrap(bv, 0.075) < 0.0135) | (
        wrap(bs + wrap(np.floor(bv / 0.075), 2.0) * 0.12, 0.24) < 0.024
    )
    factor[mortar] *= 1.5
    panel = material == 2
    panel[panel] = (wrap(v[panel], 1.5) < 0.045) | (wrap(s[panel], 3.0) < 0.045)
    factor[panel] *= 0.8

    # Upper floors: window panes in light frames, each pane with its own reflection.
    fv = wrap(v - gf, floor)
    fs = wrap(s, spacing) - (spacing - win_w) / 2
    upper = (v > gf) & (v < height - 0.9)
    frame = upper & (fv > 0.8) & (fv < 1.0 + win_h) & (fs > -0.1) & (fs < win_w + 0.1)
    pane = upper & (fv > 0.9) & (fv < 0.9 + win_h) & (fs > 0) & (fs < win_w)
    # Ground floor: shop windows (some lit) under striped awnings, or doors.
    shop_s = wrap(s, SHOP_WIDTH)
    shop = shops & (v < gf - 0.6) & (v > 0.4) & (shop_s > 0.5) & (shop_s < SHOP_WIDTH - 0.5)
    awning = shops & (v > gf - 0.6) & (v < gf - 0.1)
    awning[awning] = hash01(np.floor(s[awning] / SHOP_WIDTH)) > 0.4
    door_s = wrap(s, 9.0)
    door = ~shops & (v < 2.3) & (door_s > 4.0) & (door_s < 5.2)

    # What each pixel shows, the first of pane, frame, shop, awning, door that holds:
    # assigned from the last to the first (cheaper than np.select's stacked choices).
    what = np.zeros(s.shape, np.intp)
    for part, where in ((DOOR, door), (AWNING, awning), (SHOP, shop), (FRAME, frame), (PANE, pane)):
        what[where] = part
    factor[awning] = 0.85 + 0.3 * (wrap(s[awning], 0.5) < 0.25)
    shop_no = np.floor(s[shop] / SHOP_WIDTH)
    factor[shop] = (0.5 + 1.2 * hash01(shop_no, 7.0)) * (0.8 + 0.4 * fine[shop])
    ps, pv, pfv = s[pane], v[pane] - gf[pane], fv[pane]
    shine = hash01(np.floor(ps / spacing[pane]), np.floor(pv / floor[pane]))
    factor[pane] = (0.55 + 0.9 * shine) * (1.0 - 0.35 * np.clip((pfv - 0.9) / win_h[pane], 0, 1))
    factor[v > height - 0.45] *= 0.78  # cornice
    factor[v < 0.5] *= 0.85  # plinth
    table = np.empty((len(row.starts), 6, 3), np.float32)
    table[:, WALL_SURFACE] = row.colors
    table[:, FRAME], table[:, PANE], table[:, SHOP] = FRAME_RGB, PANE_RGB, SHOP_RGB
    table[:, AWNING], table[:, DOOR] = row.awning, DOOR_RGB
    # np.take: several times faster than fancy indexing for a gather of whole rows.
    colors = np.take(table.reshape(-1, 3), seg * table.shape[1] + what, axis=0)
    return colors * factor[:, None]


def draw_row(canvas: Canvas, row: BuildingRow, light: Light, z_end: float) -> None:
    """One side's facade plane, plus the end walls that face the camera across gaps."""
    face = x_plane(canvas, row.x, NEAR, z_end, 0.0, float(row.heights.max()))
    if face is not None:
        # On the plane X = const, z depends on the column only: find each column's building
        # and roof height once per column rather than once per pixel.
        column_z = face.a[:1]  # (1, w)
        column_seg = row.segment(column_z)
        roof = np.where(column_z >= row.starts[0], row.heights[column_seg], -1.0)  # (1, w)
        visible = canvas.visible(face.window, face.inside & (face.b <= roof), face.depth)
        z, v = face.a[visible], face.b[visible]
        seg = np.broadcast_to(column_seg, visible.shape)[visible]
        noise = (n[visible] for n in canvas.noise(face.window))
        rgb = _facade_rgb(row, seg, z - row.starts[seg], v, *noise)
        canvas.fill(face.window, visible, z, BUILDING, rgb * light.on((-row.side, 0.0, 0.0)))
    for i in range(len(row.starts)):
        previous = row.heights[i - 1] if i > 0 else 0.0
        if row.heights[i] <= previous or row.starts[i] <= NEAR or row.starts[i] >= z_end:
            continue
        x0, x1 = sorted((row.x, row.x + row.side * row.end_depth))
        end = z_plane(canvas, float(row.starts[i]), x0, x1, 0.0, float(row.heights[i]))
        if end is None:
            continue
        visible = canvas.visible(end.window, end.inside, end.depth)
        if not visible.any():  # often hidden by the nearer buildings
            continue
        s, v = np.abs(end.a[visible] - row.x), end.b[visible]
        noise = (n[visible] for n in canvas.noise(end.window))
        rgb = _facade_rgb(row, np.full(s.shape, i), s, v, *noise)
        canvas.fill(end.window, visible, end.depth, BUILDING, rgb * light.on(TOWARDS_CAMERA))


def draw_street_end(canvas: Canvas, street: Street) -> None:
    """The cross row of buildings or trees that closes the street at ``z_end``."""
    if street.end_kind == "open":
        return
    z = street.z_end
    face = z_plane(canvas, z, -1e4, 1e4, 0.0, 40.0)
    if face is None:
        return
    X, Y = face.a, face.b
    grain, fine, coarse = canvas.noise(face.window)
    cell = np.floor(X / 6.0).astype(np.int64) % len(street.end_heights)
    if street.end_kind == "buildings":
        top = street.end_heights[cell]
        color = FACADE_COLORS[cell % len(FACADE_COLORS)] * 0.9
        rgb = color * (0.9 + 0.2 * fine[..., None])
        storey = wrap(Y, 3.2)
        scale_rgb(rgb, (storey > 1.2) & (storey < 2.3) & (wrap(X, 2.5) < 1.2), 0.55)
        label = BUILDING
    else:
        top = 8.0 + 6.0 * coarse
        rgb = textured(np.array([0.2, 0.3, 0.12], np.float32), grain, fine, 0.35)
        label = VEGETATION
    canvas.paint(
        face.window,
        face.inside & (top >= Y),
        z,
        label,
        rgb,
        tint=street.light.on(TOWARDS_CAMERA),
    )


def shade_shadows(canvas: Canvas, street: Street) -> None:
    """Darken what the sun-side building row hides from the sun. The depth buffer gives each
    pixel's world position; a pixel is in shadow when the ray from it towards the sun meets
    the row's plane below the roof there."""
    light = street.light
    sx, sy, sz = (float(c) for c in light.sun)  # Python floats keep the maths in float32
    if not light.shadows or abs(sx) < 0.05:
        return
    row = street.front[0] if sx < 0 else street.front[1]
    cam = canvas.camera
    lit = np.isfinite(canvas.depth)
    z = canvas.depth[lit]
    X = (np.broadcast_to(canvas.cols, lit.shape)[lit] - cam.cx) * z / cam.focal
    Y = cam.cam_height - (np.broadcast_to(canvas.rows, lit.shape)[lit] - cam.cy) * z / cam.focal
    t = (row.x - X) / sx  # distance along the sun's direction to the row's plane
    meets = Y + t * sy  # height at which the ray meets that plane
    # Only rays that meet the plane below the tallest roof need the roof height there.
    shadowed = (t > 0.05) & (meets < row.heights.max())
    shadowed[shadowed] = meets[shadowed] < row.height_at(z[shadowed] + t[shadowed] * sz)
    lit[lit] = shadowed
    ambient = light.ambient * light.sky_rgb
    factor = ambient / (ambient + light.direct * sy * light.sun_rgb)
    put_rgb(
        canvas.photo, lit, take_rgb(canvas.photo, lit) * np.maximum(factor, 0.45).astype(np.float32)
    )
