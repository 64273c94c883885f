# Opens files until refused.
import errno

held, stopped = [], "ok"
for _ in range(100000):
    try:
        held.append(open("/dev/null"))
    except OSError as e:
        stopped = errno.errorcode.get(e.errno, str(e.errno))
        break
print(f"ATTEMPT open 100000 files: {stopped} after {len(held)}", flush=True)
