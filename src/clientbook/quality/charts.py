"""Server-rendered charts as plain numbers for SVG and CSS in the templates:
no chart library and no CDN, so the pages work offline and print cleanly."""

from dataclasses import dataclass

from clientbook.quality.models import QualitySnapshot

WIDTH, HEIGHT, PAD = 600, 160, 24


@dataclass
class Series:
    label: str
    css: str
    points: str  # "x,y x,y …" for an SVG polyline
    last: float  # the latest value, 0–1


@dataclass
class TrendChart:
    width: int
    height: int
    series: list[Series]
    first_day: str
    last_day: str
    gridlines: list[tuple[int, str]]  # (y, "50%")


def _y(share: float) -> float:
    return round(PAD + (HEIGHT - 2 * PAD) * (1 - max(0.0, min(share, 1.0))), 1)


def trend_chart(snapshots: list[QualitySnapshot], labels: dict) -> TrendChart | None:
    """Richness, maintenance and grade 1+2 shares over the snapshot days."""
    if not snapshots:
        return None
    step = (WIDTH - 2 * PAD) / max(len(snapshots) - 1, 1)

    def series(key: str, css: str, value) -> Series:
        values = [value(s) for s in snapshots]
        points = " ".join(
            f"{round(PAD + i * step, 1)},{_y(v)}" for i, v in enumerate(values)
        )
        return Series(str(labels[key]), css, points, values[-1])

    def share(count: int, s: QualitySnapshot) -> float:
        return count / s.customers if s.customers else 0.0

    return TrendChart(
        width=WIDTH,
        height=HEIGHT,
        series=[
            series("richness", "richness", lambda s: s.richness),
            series("maintenance", "maintenance", lambda s: share(s.maintained, s)),
            series("good", "good", lambda s: share(s.grade_1 + s.grade_2, s)),
        ],
        first_day=f"{snapshots[0].day:%Y-%m-%d}",
        last_day=f"{snapshots[-1].day:%Y-%m-%d}",
        gridlines=[(_y(v), f"{v:.0%}") for v in (0.0, 0.5, 1.0)],
    )
