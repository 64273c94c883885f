# Correct children (0.1 s between values), but main does not wait for them: it logs and exits.
import os, random, time, fcntl
def log(t):
    with open("execution_log.txt", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX); f.write(f"{os.getpid()} {t}\n"); f.flush(); fcntl.flock(f, fcntl.LOCK_UN)
open("execution_log.txt", "w").close(); log("main start")
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    for v in random.sample(range(1, 1000), 12):
        os.write(w, f"{v}\n".encode()); log(f"sent {v}"); time.sleep(0.1)
    os._exit(0)
if os.fork() == 0:
    os.close(w)
    with os.fdopen(r) as src, open("consumer_log.txt", "w") as out:
        for line in src:
            v = int(line); out.write(f"{v} {'par' if v % 2 == 0 else 'impar'}\n"); out.flush(); log(f"got {v}")
    os._exit(0)
os.close(r); os.close(w)
log("main done (without waiting)")
