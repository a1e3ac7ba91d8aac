"""Rebuild the bundled samples from ../shared/traces (run from the project root; not needed to use gpusim).

philly_b436b2.csv: every job of Philly virtual cluster b436b2 (7,423 jobs), in gpusim's canonical
CSV, submit times in seconds from the VC's first submission, rows in stable submit order.
"""

import csv
import datetime as dt
from pathlib import Path

SRC = Path("../shared/traces/philly/philly.csv")
OUT = Path(__file__).resolve().parent / "philly_b436b2.csv"


def main() -> None:
    with SRC.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["cluster"] == "b436b2"]
    stamp = {id(r): dt.datetime.fromisoformat(r["timestamp"]).replace(tzinfo=dt.timezone.utc).timestamp() for r in rows}
    rows.sort(key=lambda r: stamp[id(r)])
    t0 = stamp[id(rows[0])]
    with OUT.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["job_id", "submit_time", "num_gpus", "duration", "vc"])
        for i, r in enumerate(rows):
            out.writerow([f"b436b2-{i:04d}", f"{stamp[id(r)] - t0:.15g}", int(r["num_gpus"]), f"{float(r['duration']):.15g}", "b436b2"])


if __name__ == "__main__":
    main()
