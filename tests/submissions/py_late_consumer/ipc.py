# Correct, but main starts the consumer late: between the two forks it computes for 2.5 s of
# processor time, so the producer's third write comes before the consumer exists. Grade, holding
# the producer there for the epipe run, waits for the consumer while main visibly works (its
# processor time grows; a starved machine makes any main this slow), not just 2 s of wall time.
import fcntl, os, random, sys, time

def log(who, text):
    with open("execution_log.txt", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(f"{time.strftime('%H:%M:%S')} [{who} {os.getpid()}] {text}\n")
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)

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
            os._exit(3)
        log("producer", f"sent {v}")
        time.sleep(0.02)
    os._exit(0)
start = time.process_time()
while time.process_time() - start < 2.5:
    pass
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
