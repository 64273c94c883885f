# Right pipe handling, but the shared log is appended with no lock at all.
import os, random, time

def log(text):
    with open("execution_log.txt", "a") as f:
        f.write(f"{time.time():.3f} {os.getpid()} {text}\n")

open("execution_log.txt", "w").close()
log("main start")
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    for v in random.sample(range(1, 100), 12):
        os.write(w, f"{v}\n".encode())
        log(f"sent {v}")
        time.sleep(0.01)
    os._exit(0)
if os.fork() == 0:
    os.close(w)
    with os.fdopen(r) as src, open("consumer_log.txt", "w") as out:
        for line in src:
            v = int(line)
            out.write(f"{v} {'par' if v % 2 == 0 else 'impar'}\n")
            log(f"received {v}")
    os._exit(0)
os.close(r); os.close(w)
os.wait(); os.wait()
log("main done")
