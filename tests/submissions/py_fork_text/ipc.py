# os.pipe + os.fork, the pipe wrapped in buffered text files: the producer's print()s reach
# the pipe in one write when it closes the file; the consumer iterates over lines.
import os, random, time

r, w = os.pipe()
open("execution_log.txt", "w").close()
def log(text):
    with open("execution_log.txt", "a") as f:
        import fcntl
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(f"{os.getpid()} {text}\n")
        fcntl.flock(f, fcntl.LOCK_UN)
log("main start")
if os.fork() == 0:
    os.close(r)
    with os.fdopen(w, "w") as out:
        for v in random.sample(range(-500, 500), 12):
            print(v, file=out)
            log(f"producer sent {v}")
            time.sleep(0.02)
    os._exit(0)
if os.fork() == 0:
    os.close(w)
    with os.fdopen(r) as src, open("consumer_log.txt", "w") as out:
        for line in src:
            v = int(line)
            out.write(f"{v}: {'par' if v % 2 == 0 else 'ímpar'}\n")
            log(f"consumer got {v}")
    os._exit(0)
os.close(r); os.close(w)
os.wait(); os.wait()
log("main done")
