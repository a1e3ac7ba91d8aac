"""Rebuild the bundled samples from ../shared/traces (run from the project root; not needed to use gpusim).

philly_b436b2.csv: every job of Philly virtual cluster b436b2 (7,423 jobs), in gpusim's canonical
CSV, submit times in UTC epoch seconds (readers rebase them to 0; the epoch keeps the time of day
for fitting diurnal arrival patterns), rows in stable submit order.

alibaba2023/: the first 2,000 pods of Alibaba's openb_pod_list_default.csv, unchanged (the native
format, so the reader and its censoring/zero-GPU/never-scheduled rules run on real rows), and the
GPU node list beside them (which the reader turns into the implied cluster).
"""

import csv
import shutil
import datetime as dt
from pathlib import Path

SRC = Path("../shared/traces/philly/philly.csv")
OUT = Path(__file__).resolve().parent / "philly_b436b2.csv"
ALIBABA = Path("../shared/traces/alibaba-gpu-2023")
ALIBABA_OUT = Path(__file__).resolve().parent / "alibaba2023"


def main() -> None:
    with SRC.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["cluster"] == "b436b2"]
    stamp = {id(r): dt.datetime.fromisoformat(r["timestamp"]).replace(tzinfo=dt.timezone.utc).timestamp() for r in rows}
    rows.sort(key=lambda r: stamp[id(r)])
    with OUT.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["job_id", "submit_time", "num_gpus", "duration", "vc"])
        for i, r in enumerate(rows):
            out.writerow([f"b436b2-{i:04d}", f"{stamp[id(r)]:.15g}", int(r["num_gpus"]), f"{float(r['duration']):.15g}", "b436b2"])


def alibaba() -> None:
    ALIBABA_OUT.mkdir(exist_ok=True)
    with (ALIBABA / "openb_pod_list_default.csv").open(newline="") as f:
        lines = f.readlines()[:2001]  # header + 2,000 pods
    (ALIBABA_OUT / "openb_pod_list_sample.csv").write_text("".join(lines))
    shutil.copyfile(ALIBABA / "openb_node_list_gpu_node.csv", ALIBABA_OUT / "openb_node_list_gpu_node.csv")


if __name__ == "__main__":
    main()
    alibaba()
