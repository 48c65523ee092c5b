"""The C zlib peer of rasgi's `compressbench`: Python's `zlib` module, which calls C zlib.

Same measurements, same corpus, same rules: only the call is timed (`zlib.compress`,
`zlib.decompress` on bytes already in memory), repeated for `--seconds` and at least three
times. Prints one JSON line per measurement.

    python3 compress_bench.py --corpus DIR [--only m1,m2] [--seconds S]
"""

import argparse
import json
import os
import time
import zlib


def repeat(budget, op):
    op()
    runs, start = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - start < budget:
        op()
        runs += 1
    return runs, time.perf_counter() - start


def report(measure, value, unit, ops, seconds):
    print(json.dumps({"bench": "compress", "impl": "zlib", "measure": measure, "value": value,
                      "unit": unit, "ops": ops, "seconds": seconds}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    only = [m for m in args.only.split(",") if m]
    for name in ("json", "text"):
        data = open(os.path.join(args.corpus, name), "rb").read()
        z6 = open(os.path.join(args.corpus, name + ".z6"), "rb").read()
        wanted = lambda m: not only or m in only
        for level in (1, 6):
            measure = f"deflate{level}_{name}"
            if wanted(measure):
                runs, seconds = repeat(args.seconds, lambda: zlib.compress(data, level))
                report(measure, len(data) * runs / seconds / 1e6, "MB/s", runs, seconds)
        if wanted(f"inflate_{name}"):
            assert zlib.decompress(z6) == data
            runs, seconds = repeat(args.seconds, lambda: zlib.decompress(z6))
            report(f"inflate_{name}", len(data) * runs / seconds / 1e6, "MB/s", runs, seconds)
        if wanted(f"ratio6_{name}"):
            report(f"ratio6_{name}", len(zlib.compress(data, 6)) / len(data), "ratio", 1, 0.0)


if __name__ == "__main__":
    main()
