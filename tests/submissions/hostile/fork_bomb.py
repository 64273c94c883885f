# Forks 2,000 sleepers (300 s each) and leaves them behind.
import errno
import os
import time

got, stopped = 0, "nothing"
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError as e:
        stopped = errno.errorcode.get(e.errno, str(e.errno))
        break
    if pid == 0:
        time.sleep(300)
        os._exit(0)
    got += 1
print(f"ATTEMPT fork 2000: {'ok' if got == 2000 else stopped} after {got}", flush=True)
