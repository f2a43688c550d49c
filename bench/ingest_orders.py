"""Parse throughput and peak memory of ``siyu.ingest.read_orders`` on a Tmall-layout CSV.

    python bench/make_orders.py /tmp/tmall-1m.csv
    python bench/ingest_orders.py /tmp/tmall-1m.csv [--batch-rows 50000]

Prints rows/s (wall clock; CPU seconds over all threads alongside, steadier on a busy machine)
and peak RSS for parsing, and the same for the reference (reading the columns the parser uses
from the same file in the same batches, as text, nothing else) with the ratio between them,
and for ``count_rows``. Each measurement runs in its own process so peaks do not mix. Polars
maps the CSV into memory, so peak RSS includes the file's pages (reclaimable, shared with the
page cache); "heap" is the anonymous part, sampled every 20 ms, which is what batching bounds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path


def anon_mb() -> float:
    """Return this process's anonymous resident memory (heap, not mapped file pages), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(path: Path, mode: str, batch_rows: int) -> dict[str, float]:
    from siyu.ingest import count_rows, read_orders
    from siyu.ingest.formats import FORMATS, detect_source, resolve
    from siyu.ingest.reader import open_table

    peak_anon = [anon_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak_anon[0] = max(peak_anon[0], anon_mb())

    threading.Thread(target=sample, daemon=True).start()
    started, cpu_started = time.perf_counter(), time.process_time()
    rows = orders = errors = 0
    if mode == "count":
        rows = count_rows(path)
    elif mode == "read":
        with open_table(path, batch_rows=batch_rows) as table:
            fmt = FORMATS[detect_source(table.headers) or "generic"]
            found = resolve(fmt, table.headers).headers.values()
            for batch in table.read(sorted({h for headers in found for h in headers})):
                rows += batch.height
    else:
        for parsed in read_orders(path, batch_rows=batch_rows):
            orders += parsed.orders.height
            errors += len(parsed.errors)
        rows = orders + errors
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    done.set()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": rows,
        "orders": orders,
        "errors": errors,
        "s": seconds,
        "cpu_s": cpu,
        "peak_mb": peak_mb,
        "peak_anon_mb": max(peak_anon[0], anon_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--mode", choices=("parse", "read", "count"))
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.path, args.mode, args.batch_rows)))
        return
    results = {}
    for mode in ("read", "count", "parse"):
        out = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [
                sys.executable,
                __file__,
                str(args.path),
                "--mode",
                mode,
                "--batch-rows",
                str(args.batch_rows),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        results[mode] = json.loads(out.stdout)
    size_mb = args.path.stat().st_size / 1e6
    for mode, r in results.items():
        rate = r["rows"] / r["s"]
        print(
            f"{mode:6} {r['rows']:>9,.0f} rows in {r['s']:6.2f} s = {rate:>9,.0f} rows/s "
            f"(CPU {r['cpu_s']:5.1f} s on all threads), peak RSS {r['peak_mb']:5.0f} MB, "
            f"of it heap {r['peak_anon_mb']:5.0f} MB"
        )
    parse, read = results["parse"], results["read"]
    print(
        f"file {size_mb:.0f} MB; parse: {parse['orders']:,.0f} orders, {parse['errors']:,.0f} "
        f"errors; parse takes {parse['s'] / read['s']:.1f}x the plain batched read"
    )


if __name__ == "__main__":
    main()
