# Writes 8 MiB files until the disk refuses.
import errno
import os

chunk = b"\0" * (8 << 20)
total, n, stopped = 0, 0, "ok"
while total < (64 << 30):
    try:
        with open(f"fill-{n}.bin", "wb") as f:
            total += f.write(chunk)
    except OSError as e:
        stopped = errno.errorcode.get(e.errno, str(e.errno))
        break
    n += 1
print(f"ATTEMPT fill the disk: {stopped} after {total >> 20} MiB", flush=True)
