#!/usr/bin/env python3
"""Fills one tenant's cache with many small entries directly, for bench/run-cache.sh.

    cache-fill.py DB TYPE_DIR TENANT TYPE KEY_PREFIX COUNT SIZE

Run while the daemon is stopped. Creates COUNT files of SIZE bytes under TYPE_DIR (the tenant's
cache type directory of the filesystem store) as KEY_PREFIX/<i // 1000>/<i>, 1000 per
directory, and in the SQLite metadata DB one cache_entries row per file, with cache_usage and the
quota ledger's cache line raised by the same entries and bytes, in one transaction: the index and
the ledger stay consistent with what is stored, as if each entry had been PUT. Access and creation
times are spread over the past day, so that none is younger than a minimum retention of a day and
the LRU order is the key order. The files are not fsynced (the caller runs sync).
"""
import os
import sqlite3
import sys
import time

db, type_dir, tenant, cache_type, prefix, count, size = sys.argv[1:8]
count, size = int(count), int(size)
payload = b"c" * size
base = os.path.join(type_dir, prefix)
now_ms = int(time.time() * 1000)
start_ms = now_ms - 86_400_000 - count
rows = []
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
for i in range(count):
    if i % 1000 == 0:
        directory = os.path.join(base, str(i // 1000))
        os.makedirs(directory, exist_ok=True)
    fd = os.open("%s/%d" % (directory, i), flags, 0o600)
    os.write(fd, payload)
    os.close(fd)
    rows.append((tenant, cache_type, "%s/%d/%d" % (prefix, i // 1000, i), size, start_ms + i, start_ms + i))
con = sqlite3.connect(db, timeout=60)
with con:
    con.executemany("INSERT INTO cache_entries (tenant_id, cache_type, cache_key, size, created_at, accessed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute("INSERT INTO cache_usage (tenant_id, cache_type, bytes, entries) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (tenant_id, cache_type) DO UPDATE SET bytes = bytes + excluded.bytes,"
                " entries = entries + excluded.entries", (tenant, cache_type, count * size, count))
    con.execute("INSERT INTO quota_ledger (tenant_id, category, used_bytes, reserved_bytes) VALUES (?, 'cache', ?, 0)"
                " ON CONFLICT (tenant_id, category) DO UPDATE SET used_bytes = used_bytes + excluded.used_bytes",
                (tenant, count * size))
con.close()
print(count)
