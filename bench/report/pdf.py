"""A Canvas (bench.report.canvas) as a one-page vector PDF, written by hand: no plotting library, no display.

PDF 1.4 with the standard fonts every reader has (Helvetica for text, Symbol for Greek letters and ∞ ≥ ≤ −), so
nothing is embedded; a character neither encodes prints as '?'. Fill opacity goes through ExtGState ``ca``.
Coordinates are the SVG's, flipped (PDF's origin is the bottom left). Text widths (for centred and
right-aligned labels) come from the fonts' metrics.
"""
from __future__ import annotations

from bench.report.canvas import Canvas, Item

# Helvetica's advance widths (1/1000 em) of the printable ASCII characters 32..126 (the Adobe AFM)
HELVETICA = [278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, *[556] * 10, 278, 278,
             584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667,
             778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556,
             278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500,
             334, 260, 334, 584]
# characters printed in the Symbol font: its code and advance width
SYMBOL = {"α": (0x61, 631), "β": (0x62, 549), "γ": (0x67, 411), "δ": (0x64, 494), "ε": (0x65, 439), "κ": (0x6B, 549),
          "λ": (0x6C, 549), "μ": (0x6D, 576), "π": (0x70, 549), "ρ": (0x72, 549), "σ": (0x73, 603), "τ": (0x74, 439),
          "∞": (0xA5, 713), "≥": (0xB3, 549), "≤": (0xA3, 549), "−": (0x2D, 549), "†": (0x2A, 500)}
K = 0.5523  # a circle's Bézier control distance, per radius


def _runs(text: str) -> list[tuple[str, bytes, float]]:
    """Text as (font, bytes, width in em) runs: Helvetica in WinAnsi (cp1252), Symbol for SYMBOL's characters."""
    runs: list[tuple[str, bytes, float]] = []
    for ch in text:
        if ch in SYMBOL:
            font, code, width = "F2", bytes([SYMBOL[ch][0]]), SYMBOL[ch][1]
        else:
            code = ch.encode("cp1252", errors="replace")
            font, width = "F1", HELVETICA[code[0] - 32] if 32 <= code[0] <= 126 else 556
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + code, runs[-1][2] + width / 1000)
        else:
            runs.append((font, code, width / 1000))
    return runs


def _string(data: bytes) -> str:
    return "(" + data.decode("latin-1").replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _rgb(colour: str) -> str:
    c = colour.lstrip("#")
    c = "".join(ch * 2 for ch in c) if len(c) == 3 else c  # #444 is #444444
    return " ".join(f"{int(c[i:i + 2], 16) / 255:.3f}" for i in (0, 2, 4))


class _Page:
    def __init__(self, canvas: Canvas):
        self.h = canvas.height
        self.ops: list[str] = []
        self.alphas: dict[float, str] = {}

    def y(self, v: float) -> float:
        return self.h - v

    def path(self, item: Item) -> str:
        """The item's path operators, in PDF coordinates."""
        pts = [(x, self.y(y)) for x, y in item.points]
        if item.kind == "circle":
            (x, y), r = pts[0], item.r
            k = K * r
            return (f"{x + r:.2f} {y:.2f} m {x + r:.2f} {y + k:.2f} {x + k:.2f} {y + r:.2f} {x:.2f} {y + r:.2f} c "
                    f"{x - k:.2f} {y + r:.2f} {x - r:.2f} {y + k:.2f} {x - r:.2f} {y:.2f} c "
                    f"{x - r:.2f} {y - k:.2f} {x - k:.2f} {y - r:.2f} {x:.2f} {y - r:.2f} c "
                    f"{x + k:.2f} {y - r:.2f} {x + r:.2f} {y - k:.2f} {x + r:.2f} {y:.2f} c h")
        if item.kind == "rect":
            (x, y), (w, hh) = item.points
            return f"{x:.2f} {self.y(y) - hh:.2f} {w:.2f} {hh:.2f} re"
        out = f"{pts[0][0]:.2f} {pts[0][1]:.2f} m " + " ".join(f"{x:.2f} {y:.2f} l" for x, y in pts[1:])
        return out + (" h" if item.kind == "polygon" else "")

    def draw(self, item: Item) -> None:
        if item.kind == "text":
            self.write(item)
            return
        ops = ["q"]
        if item.fill:
            if item.opacity < 1:
                name = self.alphas.setdefault(round(item.opacity, 3), f"GS{len(self.alphas)}")
                ops.append(f"/{name} gs")
            ops.append(f"{_rgb(item.fill)} rg")
        if item.stroke:
            ops.append(f"{_rgb(item.stroke)} RG {item.width:g} w 1 J 1 j")
            if item.dash:
                ops.append(f"[{item.dash}] 0 d")
        paint = "B" if item.fill and item.stroke else "f" if item.fill else "S"  # the outline stays opaque (CA 1)
        ops.append(f"{self.path(item)} {paint}")
        ops.append("Q")
        self.ops.append(" ".join(ops))

    def write(self, item: Item) -> None:
        (x, y), runs = item.points[0], _runs(item.text)
        width = sum(w for _, _, w in runs) * item.size
        shift = {"start": 0.0, "middle": width / 2, "end": width}[item.anchor]
        y = self.y(y)
        matrix = f"0 1 -1 0 {x:.2f} {y + shift:.2f}" if item.rotate else f"1 0 0 1 {x - shift:.2f} {y:.2f}"
        shown = " ".join(f"/{font} {item.size:g} Tf {_string(data)} Tj" for font, data, _ in runs)
        self.ops.append(f"BT 0.133 0.133 0.133 rg {matrix} Tm {shown} ET")


def pdf(canvas: Canvas) -> bytes:
    """The canvas as a one-page PDF."""
    page = _Page(canvas)
    for item in canvas.items:
        page.draw(item)
    stream = "\n".join(page.ops).encode("latin-1")
    states = " ".join(f"/{name} << /Type /ExtGState /ca {a:g} /CA 1 >>" for a, name in page.alphas.items())
    title = _string(canvas.title.encode("cp1252", errors="replace"))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {canvas.width} {canvas.height}] /Contents 4 0 R "
        f"/Resources << /Font << /F1 5 0 R /F2 6 0 R >> /ExtGState << {states} >> >> >>",
        None,  # the content stream
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Symbol >>",
        f"<< /Title {title} /Producer (bench) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        data = (f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream") if body is None \
            else body.encode("latin-1")
        out += f"{i} 0 obj\n".encode() + data + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
