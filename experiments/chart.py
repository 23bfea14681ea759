"""A tiny SVG line chart for the experiment reports (standard library only)."""
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


def line_chart(path, title, xlabel, ylabel, series, ymin=0.0, ymax=1.0, logx=False):
    import math
    W, H, L, R, T, B = 640, 400, 60, 170, 40, 50
    xs = [x for _, pts in series for x, _ in pts]
    if not xs:
        return
    fx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    x0, x1 = fx(min(xs)), fx(max(xs))
    if x1 == x0:
        x1 = x0 + 1

    def px(x):
        return L + (fx(x) - x0) / (x1 - x0) * (W - L - R)

    def py(y):
        return H - B - (y - ymin) / (ymax - ymin) * (H - T - B)

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
         f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">{xlabel}</text>',
         f'<text x="15" y="{(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 15 {(T + H - B) / 2})">{ylabel}</text>']
    for i in range(5):
        y = ymin + (ymax - ymin) * i / 4
        s.append(f'<line x1="{L}" y1="{py(y):.1f}" x2="{W - R}" y2="{py(y):.1f}" stroke="#ddd"/>')
        s.append(f'<text x="{L - 5}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
    ticks = sorted(set(xs))
    if len(ticks) > 8:
        ticks = [ticks[int(i * (len(ticks) - 1) / 6)] for i in range(7)]
    for x in ticks:
        s.append(f'<text x="{px(x):.1f}" y="{H - B + 16}" text-anchor="middle">{x:g}</text>')
    for i, (name, pts) in enumerate(series):
        c = PALETTE[i % len(PALETTE)]
        pts = sorted(pts)
        if len(pts) > 1:
            d = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
            s.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, y in pts:
            s.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>')
        s.append(f'<rect x="{W - R + 10}" y="{T + 18 * i}" width="12" height="12" fill="{c}"/>')
        s.append(f'<text x="{W - R + 27}" y="{T + 18 * i + 10}">{name}</text>')
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")
