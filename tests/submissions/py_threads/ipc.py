# Threads, not processes: a producer and a consumer thread joined by an os.pipe.
import os, random, threading, time
r, w = os.pipe()
lock = threading.Lock()
def log(t):
    with lock, open("execution_log.txt", "a") as f: f.write(f"{threading.current_thread().name} {t}\n")
def producer():
    for v in random.sample(range(1, 1000), 12):
        os.write(w, f"{v}\n".encode()); log(f"sent {v}"); time.sleep(0.02)
    os.close(w)
def consumer():
    with os.fdopen(r) as src, open("consumer_log.txt", "w") as out:
        for line in src:
            v = int(line); out.write(f"{v} {'par' if v % 2 == 0 else 'impar'}\n"); log(f"got {v}")
open("execution_log.txt", "w").close(); log("start")
ts = [threading.Thread(target=producer, name="producer"), threading.Thread(target=consumer, name="consumer")]
for t in ts: t.start()
for t in ts: t.join()
log("done")
