# Correct, but slow to end: the producer, on a broken pipe, and the consumer, at an end of file
# that came before all 12 values, each compute for 3 s of processor time (a long clean-up)
# before they exit. Grade must wait for a process that visibly works towards its end (its
# processor time grows), not fail it because the wall clock passed its first watch.
import fcntl, os, random, time

def log(who, text):
    with open("execution_log.txt", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(f"{time.strftime('%H:%M:%S')} [{who} {os.getpid()}] {text}\n")
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)

def clean_up():
    start = time.process_time()
    while time.process_time() - start < 3.0:
        pass

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
            log("producer", "broken pipe")
            clean_up()
            os._exit(3)
        log("producer", f"sent {v}")
        time.sleep(0.02)
    os._exit(0)
consumer = os.fork()
if consumer == 0:
    os.close(w)
    got = 0
    with os.fdopen(r) as src, open("consumer_log.txt", "w") as out:
        for line in src:
            got += 1
            v = int(line)
            out.write(f"{v} {'even' if v % 2 == 0 else 'odd'}\n")
            out.flush()
            log("consumer", f"received {v}")
    log("consumer", "end of file")
    if got < 12:
        clean_up()
    os._exit(0)
os.close(r)
os.close(w)
os.waitpid(producer, 0)
os.waitpid(consumer, 0)
log("main", "done")
