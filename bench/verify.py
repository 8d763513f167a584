"""Per-token cost of verification with a warm key cache (PEM and JWKS), in microseconds.

Run: ``.venv/bin/python -m bench.verify [--n 5000]``. The first two lines verify distinct tokens with the
verified-token cache off (full RSA path); the last repeats one token with the cache on (a browser's steady state).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from clerk_sync.issuer import TokenIssuer
from clerk_sync.keys import JwksKeySet, PemKeySet
from clerk_sync.testing.jwks_server import JwksServer
from clerk_sync.verify import TokenVerifier


async def measure(verifier: TokenVerifier, tokens: list[str], rounds: int = 5) -> list[float]:
    for token in tokens[:100]:  # warm-up: key cache, PyJWT internals
        await verifier.verify(token)
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for token in tokens:
            await verifier.verify(token)
        results.append((time.perf_counter() - start) / len(tokens) * 1e6)
    return results


async def main(n: int) -> None:
    issuer = TokenIssuer()
    claims = {
        "email": "bench@example.com",
        "first_name": "Bench",
        "last_name": "Mark",
        "public_metadata": {"plan": "pro"},
    }
    tokens = [issuer.mint(f"user_{i}", claims=claims) for i in range(n)]
    pem = TokenVerifier(PemKeySet(issuer.public_key), cache_size=0)
    with JwksServer(issuer) as server:
        async with httpx.AsyncClient() as http:
            jwks = TokenVerifier(JwksKeySet(server.url, http), cache_size=0)
            for name, verifier in [("PEM key", pem), ("JWKS (warm cache)", jwks)]:
                runs = await measure(verifier, tokens)
                median, best = statistics.median(runs), min(runs)
                print(f"{name:20s} median {median:7.1f} us/token  (min {best:.1f}, {n} tokens x {len(runs)} rounds)")
            print(f"JWKS fetches during the run: {server.requests}")
    cached = TokenVerifier(PemKeySet(issuer.public_key))
    same = [tokens[0]] * n
    runs = await measure(cached, same)
    print(f"{'cache hit':20s} median {statistics.median(runs):7.1f} us/token  (same token, verified-token cache on)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    asyncio.run(main(parser.parse_args().n))
