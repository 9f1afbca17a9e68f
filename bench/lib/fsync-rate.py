#!/usr/bin/env python3
"""Single-writer durable-publish rate of a disk: the baseline of bench/run-cache.sh.

    fsync-rate.py DIR SECONDS

One thread, in a loop for SECONDS: writes 4 KiB to a temporary file, fsyncs it, renames it to
its own final name, fsyncs the directory (what a durable blob publish costs at the least).
Prints the publishes per second. The files are removed afterwards, outside the timing.
"""
import os
import sys
import time

directory, seconds = sys.argv[1], float(sys.argv[2])
os.makedirs(directory, exist_ok=True)
payload = os.urandom(4096)
dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
count = 0
start = time.monotonic()
deadline = start + seconds
while time.monotonic() < deadline:
    temp = os.path.join(directory, ".tmp-%d" % count)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, payload)
    os.fsync(fd)
    os.close(fd)
    os.rename(temp, os.path.join(directory, "entry-%d" % count))
    os.fsync(dir_fd)
    count += 1
elapsed = time.monotonic() - start
os.close(dir_fd)
for name in os.listdir(directory):
    os.unlink(os.path.join(directory, name))
print("%.0f" % (count / elapsed))
