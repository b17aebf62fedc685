"""A plot as a list of drawing primitives (lines, polylines, polygons, circles, rectangles, text), rendered to
SVG (inline in the HTML report and the site, or standalone) and to PDF (bench.report.pdf), so a paper gets the
same vector figure with no plotting library. Every text is escaped in SVG; colours are ``#rrggbb``."""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape


def num(v: float) -> str:
    """A coordinate: an integer as is, else one decimal."""
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


@dataclass
class Item:
    kind: str  # line | polyline | polygon | circle | rect | text
    points: list[tuple[float, float]]  # line: 2; polyline/polygon: many; circle: centre; rect: corner, size; text: 1
    stroke: str | None = None
    fill: str | None = None
    width: float = 1.0
    opacity: float = 1.0  # the fill's
    dash: str | None = None  # "4 3"
    r: float = 0.0  # circle radius
    text: str = ""
    size: float = 10.0
    anchor: str = "start"  # start | middle | end
    rotate: bool = False  # text read bottom to top (a y-axis label)
    cls: str | None = None  # SVG class (tests and styling)
    label: str | None = None  # the series it belongs to (data-label)
    tip: str | None = None  # a tooltip (SVG <title>)


@dataclass
class Canvas:
    width: int
    height: int
    title: str
    cls: str = ""
    items: list[Item] = field(default_factory=list)

    def add(self, kind: str, points, **kw) -> None:
        self.items.append(Item(kind, [(float(x), float(y)) for x, y in points], **kw))

    def line(self, x1, y1, x2, y2, stroke="#444", **kw) -> None:
        self.add("line", [(x1, y1), (x2, y2)], stroke=stroke, **kw)

    def text(self, x, y, s: str, size: float = 10, anchor: str = "start", rotate: bool = False) -> None:
        self.add("text", [(x, y)], text=s, size=size, anchor=anchor, rotate=rotate)

    def svg(self, standalone: bool = False) -> str:
        """The plot as SVG: an element for an HTML page, or (``standalone``) a file with its XML declaration."""
        head = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
        out = [f'{head}<svg xmlns="http://www.w3.org/2000/svg" class="plot {escape(self.cls)}" width="{self.width}" '
               f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" role="img" font-family="Helvetica, '
               f'Arial, sans-serif"><title>{escape(self.title)}</title>']
        if standalone:
            out.append(f'<rect x="0" y="0" width="{self.width}" height="{self.height}" fill="#ffffff"/>')
        out += [_svg(item) for item in self.items]
        return "\n".join(out + ["</svg>"])


def _attrs(item: Item) -> str:
    out = []
    if item.cls:
        out.append(f'class="{escape(item.cls)}"')
    if item.label is not None:
        out.append(f'data-label="{escape(item.label)}"')
    out.append(f'fill="{item.fill}"' if item.fill else 'fill="none"')
    if item.fill and item.opacity < 1:
        out.append(f'fill-opacity="{item.opacity:g}"')
    if item.stroke:
        out.append(f'stroke="{item.stroke}"')
        if item.width != 1:
            out.append(f'stroke-width="{item.width:g}"')
        if item.dash:
            out.append(f'stroke-dasharray="{item.dash}"')
    return " ".join(out)


def _svg(item: Item) -> str:
    tip = f"<title>{escape(item.tip)}</title>" if item.tip else ""
    close = f">{tip}</{{}}>" if tip else "/>"
    pts = item.points
    if item.kind == "text":
        (x, y), anchor = pts[0], "" if item.anchor == "start" else f' text-anchor="{item.anchor}"'
        where = (f'transform="translate({num(x)} {num(y)}) rotate(-90)"' if item.rotate
                 else f'x="{num(x)}" y="{num(y)}"')
        return f'<text {where}{anchor} font-size="{item.size:g}">{escape(item.text)}</text>'
    if item.kind == "line":
        (x1, y1), (x2, y2) = pts
        head = f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" {_attrs(item)}'
        return head + close.format("line")
    if item.kind in ("polyline", "polygon"):
        head = f'<{item.kind} {_attrs(item)} points="{" ".join(f"{num(x)},{num(y)}" for x, y in pts)}"'
        return head + close.format(item.kind)
    if item.kind == "circle":
        (x, y), = pts
        return f'<circle {_attrs(item)} cx="{num(x)}" cy="{num(y)}" r="{item.r:g}"' + close.format("circle")
    (x, y), (w, h) = pts
    return f'<rect {_attrs(item)} x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}"' + close.format("rect")
