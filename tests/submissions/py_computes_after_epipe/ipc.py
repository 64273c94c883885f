# Ignores a broken pipe: the producer, once its write fails with EPIPE, computes on for ever
# instead of ending. Grade watches a process that works longer than its first watch, but not
# without bound: processor time spent without ending (5 s) is a failure, whatever the load.
import fcntl, os, random, time

def log(who, text):
    with open("execution_log.txt", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(f"{time.strftime('%H:%M:%S')} [{who} {os.getpid()}] {text}\n")
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)

def compute_for_ever():
    n = 0
    while True:
        n += 1

open("execution_log.txt", "w").close()
log("main", "start")
r, w = os.pipe()
producer = os.fork()
if producer == 0:
    os.close(r)
    for v in random.sample(range(1, 1000), 12):
        try:
            os.write(w, f"{v}\n".encode())
        except BrokenPipeError:
            log("producer", "broken pipe, going on")
            compute_for_ever()
        log("producer", f"sent {v}")
        time.sleep(0.02)
    os._exit(0)
consumer = os.fork()
if consumer == 0:
    os.close(w)
    with os.fdopen(r) as src, open("consumer_log.txt", "w") as out:
        for line in src:
            v = int(line)
            out.write(f"{v} {'even' if v % 2 == 0 else 'odd'}\n")
            out.flush()
            log("consumer", f"received {v}")
    log("consumer", "end of file")
    os._exit(0)
os.close(r)
os.close(w)
os.waitpid(producer, 0)
os.waitpid(consumer, 0)
log("main", "done")
