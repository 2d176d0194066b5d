"""moto server for measurements over large tables (infra/local/measure-backfill.sh): the fixes of
moto_server.py, plus one for a cost that grows with the table.

moto 5.2's `Query` on a table (not an index) builds a list of *every* item of the table, keeps
those of the partition and sorts them with `DynamoType.__lt__` (a Python call that recomputes
both values per comparison), then compares every row before the page with the key condition.
Over the 150,000-item SKU-map listing one page of 1,000 takes about 10 s, so a backfill (which
reads the listing in pages, once per location and pass) spends hours in the emulator. Here such a
query reads only its partition, sorted with the values computed once, and hands moto's own
`Query` the rows from the first that meets the key condition to the one after the page (a key
condition selects a contiguous run of the sorted partition; the row after the page is what
makes moto report `LastEvaluatedKey`), so what is returned, counted and reported as the last
key is what moto returns. A query with an index, an exclusive start key, a `QueryFilter`, or in
descending order gets only the partition-read half; moto does the rest.

Every DynamoDB call runs under moto_server.py's lock, so the rows handed over cannot change meanwhile.
"""

import inspect
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import moto_server  # noqa: E402,F401 - applies its fixes on import
from moto.dynamodb.models.table import Table  # noqa: E402

_query = Table.query
_signature = inspect.signature(_query)


def partition_query(self, *args, **kwargs):
    given = _signature.bind(self, *args, **kwargs).arguments
    hash_key = given.get("hash_key")
    if given.get("index_name") or hash_key is None or not self.range_key_attr:
        return _query(self, *args, **kwargs)
    rows = sorted(self.items.get(hash_key, {}).values(), key=lambda i: i.range_key.cast_value)
    plain = (not given.get("exclusive_start_key") and not given.get("filter_kwargs")
             and given.get("scan_index_forward") is not False)
    if plain:
        comparison, values, limit = (given.get("range_comparison"), given.get("range_objs"),
                                     given.get("limit"))
        first = 0
        if comparison:
            first = next((n for n, i in enumerate(rows) if i.range_key.compare(comparison, values)),
                         len(rows))
        rows = rows[first:first + limit + 1] if limit else rows[first:]
    self.all_items = lambda: rows
    try:
        return _query(self, *args, **kwargs)
    finally:
        del self.all_items


Table.query = partition_query

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main())
