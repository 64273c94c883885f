# Daemonizes (fork, setsid, fork) and sleeps 300 s; the first process returns at once.
import os
import time

r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, f"{os.getpid()}\n".encode())
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(w)
        os.close(r)
        time.sleep(300)
        os._exit(0)
    os._exit(0)
os.close(w)
pid = os.read(r, 64).decode().strip()
print(f"ATTEMPT daemon {pid} sleeping 300 s: ok", flush=True)
