"""How fast each explorable redraws: the time of one slider move, per view and value.

Each topic module of ``pythonlibs.interactive`` lists its views with the chapter's real data in
``benchmark_views()``; a move of a control costs one call of the view's ``draw(fig, **values)``
plus rendering the figure, timed here (median of repeats).  The goal is ≤ 0.2 s per update on a
laptop CPU.

Run from the project root (CI does not run it; it is a measurement, not a test):

    DLNB_DATA_MIRROR=../shared/datasets .venv/bin/python benchmarks/bench_interactive.py --json out.json
"""

import argparse
import importlib
import json
import pkgutil
import statistics
import time
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import pythonlibs.interactive as interactive

from evidence import run_metadata

GOAL_SECONDS = 0.2


def all_views() -> dict:
    """{view name: (draw, [values, ...])} of every topic module of pythonlibs.interactive."""
    views = {}
    for module_info in pkgutil.iter_modules(interactive.__path__):
        module = importlib.import_module(f"pythonlibs.interactive.{module_info.name}")
        if hasattr(module, "benchmark_views"):
            views.update(module.benchmark_views())
    return views


def update_seconds(draw, values: dict, repeats: int) -> float:
    """Median time of drawing and rendering the view once for ``values``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fig = Figure(figsize=(6, 4))
        canvas = FigureCanvasAgg(fig)   # a bare Figure's canvas draws nothing; Agg renders like inline
        draw(fig, **values)
        canvas.draw()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for name, (draw, cases) in all_views().items():
        for values in cases:
            seconds = update_seconds(draw, values, args.repeats)
            rows.append({"view": name, "values": values, "seconds": seconds})
            mark = "ok" if seconds <= GOAL_SECONDS else "SLOW"
            print(f"{seconds * 1000:7.1f} ms  {mark:4s}  {name}  {values}")
    slowest = max(rows, key=lambda row: row["seconds"]) if rows else None
    if slowest:
        print(f"slowest update: {slowest['seconds'] * 1000:.1f} ms ({slowest['view']}); goal {GOAL_SECONDS * 1000:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps({"meta": run_metadata("cpu"), "updates": rows}, ensure_ascii=False,
                                        indent=1, default=str))


if __name__ == "__main__":
    main()
