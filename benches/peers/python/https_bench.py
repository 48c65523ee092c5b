"""httpx side of the `https` suite: keep-alive HTTPS GETs per second with httpx.AsyncClient.

--concurrency C workers share one AsyncClient (and so its connection pool); each sends a GET,
reads the whole body and sends the next, for --duration seconds. The client trusts only
--cacert (an SSLContext built from that file: httpx 0.28 deprecates passing a path straight to
`verify`, the context is the same thing spelled the current way), so the run also proves that
the chain verifies.

Prints one JSON line in the format shared with the Rust `httpsbench`:
    {"bench": "https", "impl": "httpx", "measure": "gets_c1", "value": ..., "unit": "req/s", ...}

Usage: python https_bench.py --url https://127.0.0.1:PORT/ --cacert ca.pem [--duration S]
                             [--concurrency C]
"""

import argparse
import asyncio
import json
import ssl
import sys
import time

import httpx


async def get_loop(client, url, deadline):
    done = 0
    while time.perf_counter() < deadline:
        response = await client.get(url)  # reads the whole body before returning
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: status {response.status_code}")
        done += 1
    return done


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cacert", required=True)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()

    context = ssl.create_default_context(cafile=args.cacert)
    async with httpx.AsyncClient(verify=context) as client:
        start = time.perf_counter()
        deadline = start + args.duration
        try:
            counts = await asyncio.gather(
                *(get_loop(client, args.url, deadline) for _ in range(args.concurrency))
            )
        except (httpx.HTTPError, RuntimeError) as e:
            sys.exit(f"https_bench.py: {e}")
        seconds = time.perf_counter() - start
    total = sum(counts)
    line = {
        "bench": "https",
        "impl": "httpx",
        "measure": f"gets_c{args.concurrency}",
        "value": round(total / seconds, 2),
        "unit": "req/s",
        "ops": total,
        "seconds": round(seconds, 3),
    }
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
