# A correct exchange, but the consumer's file holds binary garbage, terminal escapes and one
# 1 MB line besides its readable lines.
import os, random, time, fcntl
def log(t):
    with open("execution_log.txt", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX); f.write(f"{os.getpid()} {t}\n"); f.flush(); fcntl.flock(f, fcntl.LOCK_UN)
open("execution_log.txt", "w").close(); log("main start")
r, w = os.pipe()
if os.fork() == 0:
    os.close(r)
    for v in random.sample(range(1, 1000), 12):
        os.write(w, f"{v}\n".encode()); log(f"sent {v}"); time.sleep(0.02)
    os._exit(0)
if os.fork() == 0:
    os.close(w)
    with os.fdopen(r) as src, open("consumer_log.txt", "wb") as out:
        out.write(os.urandom(5000) + b"\n")
        out.write(b"\x1b[2J\x1b[31m 3 is par \x1b[0m\n")
        out.write(b"7" * 1_000_000 + b" odd\n")
        for line in src:
            v = int(line); out.write(f"{v} {'par' if v % 2 == 0 else 'impar'}\n".encode()); out.flush(); log(f"got {v}")
    os._exit(0)
os.close(r); os.close(w); os.wait(); os.wait(); log("main done")
