# Values alternate between two pipes (even-indexed on one, odd-indexed on the other).
import os, random, select, time, fcntl
def log(t):
    with open("execution_log.txt", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX); f.write(f"{os.getpid()} {t}\n"); f.flush(); fcntl.flock(f, fcntl.LOCK_UN)
open("execution_log.txt", "w").close(); log("main start")
pipes = [os.pipe(), os.pipe()]
if os.fork() == 0:
    for r, _ in pipes: os.close(r)
    for i, v in enumerate(random.sample(range(1, 1000), 12)):
        os.write(pipes[i % 2][1], f"{v}\n".encode()); log(f"sent {v}"); time.sleep(0.02)
    os._exit(0)
if os.fork() == 0:
    for _, w in pipes: os.close(w)
    open_fds = [r for r, _ in pipes]
    with open("consumer_log.txt", "w") as out:
        while open_fds:
            ready, _, _ = select.select(open_fds, [], [])
            for fd in ready:
                data = os.read(fd, 100)
                if not data:
                    open_fds.remove(fd); continue
                for v in map(int, data.split()):
                    out.write(f"{v} {'par' if v % 2 == 0 else 'impar'}\n"); out.flush(); log(f"got {v}")
    os._exit(0)
for r, w in pipes: os.close(r); os.close(w)
os.wait(); os.wait(); log("main done")
