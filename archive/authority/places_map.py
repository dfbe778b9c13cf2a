"""The map of places drawn on the server: coordinates projected onto the outline the archive ships
(`archive/static/map/region.svg`), the view fitted to the places shown, so the page needs no script, no
tiles and no other host (a reading room may be offline).

The projection is equirectangular with its standard parallel at the middle of the view: over a
region the size of the Caucasus that keeps shapes true to the eye, and the shipped outline, drawn
in plain degrees, only has to be stretched to match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

# The shipped outline's extent in degrees: west, east, south, north (see static/map/README.md).
OUTLINE = (10.0, 75.0, 25.0, 62.0)
OUTLINE_FILE = "map/region.svg"
# The drawing's width in its own units; its height follows the view.
WIDTH = 640
# The narrowest view (degrees of longitude), so that one place is shown with the land around it.
MIN_SPAN = 3.0
# The height of the drawing stays between these parts of its width, widening the view as needed.
TALLEST, FLATTEST = 0.9, 0.5
RADIUS = (5.0, 16.0)
# How much wider than the places the view is, for the dots and their names.
MARGIN = 1.4


# Names are placed for the largest size the page draws them at (on narrow screens), in the drawing's
# units, by an estimate of their width: a name that would cover another or a dot is left out (the
# dot's tooltip and the list beside the map still name it).
LABEL_FONT = 22
LETTER = 0.62
GAP = 4


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    anchor: str
    """SVG's text-anchor: start, middle or end."""
    text: str


@dataclass(frozen=True)
class Dot:
    name: str
    count: int
    x: float
    y: float
    r: float
    key: object
    """What the caller matches the dot with (its place, its search link)."""
    label: Label | None = None


@dataclass(frozen=True)
class Drawing:
    width: int
    height: int
    outline: tuple[float, float, float, float]
    """Where the outline image goes: x, y, width, height in the drawing's units."""
    dots: list[Dot]


@dataclass(frozen=True)
class Point:
    name: str
    count: int
    latitude: float
    longitude: float
    key: object


def _view(points: list[Point]) -> tuple[float, float, float, float, float]:
    """West, east, south, north of the view around the points, and the cosine of its middle."""
    west, east = min(p.longitude for p in points), max(p.longitude for p in points)
    south, north = min(p.latitude for p in points), max(p.latitude for p in points)
    middle = math.cos(math.radians(max(-80.0, min(80.0, (south + north) / 2))))
    # Spans as drawn (degrees of latitude), with a margin for the dots and their names.
    wide = max((east - west) * MARGIN, MIN_SPAN) * middle
    high = (north - south) * MARGIN
    wide = max(wide, high / TALLEST)
    high = max(high, wide * FLATTEST)
    centre_x, centre_y = (west + east) / 2, (south + north) / 2
    half_x, half_y = wide / middle / 2, high / 2
    return centre_x - half_x, centre_x + half_x, centre_y - half_y, centre_y + half_y, middle


def draw(points: list[Point]) -> Drawing | None:
    """The drawing of these points, or None for no point."""
    if not points:
        return None
    west, east, south, north, middle = _view(points)
    scale = WIDTH / (east - west)
    height = round(WIDTH * (north - south) / ((east - west) * middle))
    scale_y = height / (north - south)

    def x(longitude: float) -> float:
        return round((longitude - west) * scale, 1)

    def y(latitude: float) -> float:
        return round((north - latitude) * scale_y, 1)

    o_west, o_east, o_south, o_north = OUTLINE
    outline = (
        x(o_west),
        y(o_north),
        round((o_east - o_west) * scale, 1),
        round((o_north - o_south) * scale_y, 1),
    )
    most = max(p.count for p in points) or 1
    small, large = RADIUS
    dots = [
        Dot(
            p.name,
            p.count,
            x(p.longitude),
            y(p.latitude),
            round(small + (large - small) * math.sqrt(p.count / most), 1),
            p.key,
        )
        for p in sorted(points, key=lambda p: -p.count)
    ]
    return Drawing(WIDTH, height, outline, _labelled(dots, WIDTH, height))


Box = tuple[float, float, float, float]


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _labelled(dots: list[Dot], width: int, height: int) -> list[Dot]:
    """Each dot with its name beside it where the name fits: right, left, above or below, the most
    testimonies placed first."""
    taken: list[Box] = [(d.x - d.r, d.y - d.r, d.x + d.r, d.y + d.r) for d in dots]
    out = []
    for dot in dots:
        text = f"{dot.name} ({dot.count})"
        wide, high = len(text) * LABEL_FONT * LETTER, LABEL_FONT
        reach = dot.r + GAP
        sides = (
            (Label(dot.x + reach, dot.y + high * 0.35, "start", text), (dot.x + reach, dot.y - high / 2)),
            (
                Label(dot.x - reach, dot.y + high * 0.35, "end", text),
                (dot.x - reach - wide, dot.y - high / 2),
            ),
            (
                Label(dot.x, dot.y - reach - high * 0.2, "middle", text),
                (dot.x - wide / 2, dot.y - reach - high),
            ),
            (Label(dot.x, dot.y + reach + high * 0.8, "middle", text), (dot.x - wide / 2, dot.y + reach)),
        )
        label = None
        for candidate, (left, top) in sides:
            box = (left, top, left + wide, top + high)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height
            if inside and not any(_overlap(box, other) for other in taken):
                label = Label(round(candidate.x, 1), round(candidate.y, 1), candidate.anchor, text)
                taken.append(box)
                break
        out.append(replace(dot, label=label))
    return out
