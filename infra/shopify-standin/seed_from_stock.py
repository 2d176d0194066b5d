"""Seeds the Shopify stand-in with the levels Stockbridge holds (`stockbridge stock show --json` on
stdin), without webhooks: the local demo's shop then holds what the sample webhooks said, so a
reconciliation starts in step and the drift the demo introduces next is the only drift.

    stockbridge stock show --shop S --json | python seed_from_stock.py http://127.0.0.1:8788
"""

import json
import sys
import urllib.request

LOCATION_NAMES = {"72000000001": "Main warehouse", "72000000002": "Shop floor"}


def main() -> int:
    base = sys.argv[1].rstrip("/")
    rows = json.load(sys.stdin)
    levels = [r for r in rows if r.get("tracked", True) and r.get("connected", True)]
    items = sorted({r["item"] for r in levels}, key=int)
    locations = sorted({r["location"] for r in levels}, key=int)
    body = {
        "reset": True,
        "notify": False,
        "items": [{"id": int(i), "sku": None} for i in items],
        "locations": [{"id": int(l), "name": LOCATION_NAMES.get(l, f"Location {l}")} for l in locations],
        "levels": [
            {"item": int(r["item"]), "location": int(r["location"]),
             "available": r["available"], "committed": r["committed"]}
            for r in levels
        ],
    }
    request = urllib.request.Request(f"{base}/_standin/seed", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        print(f"stand-in seeded: {response.read().decode()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
