# The 34-line Python: ipc_desafio's log format, but both pipe ends kept everywhere,
# no lock, and values that repeat (12 draws from 1..=11).
import os, random, sys, time
from multiprocessing import Pipe, Process
def now(): return time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")
def log(who, text):
    with open("execution_log.txt", "a") as f:
        f.write(f"{now()} [{who} {os.getpid()}] {text}\n")
def producer(a, b):
    log("producer", "started")
    for i in range(12):
        v = random.randint(1, 11)
        a.send(v); log("producer", f"sent {v} ({i + 1}/12)"); time.sleep(0.02)
    a.send(None); log("producer", "end marker sent (12 values)")
def consumer(a, b):
    log("consumer", "started")
    with open("consumer_log.txt", "w") as out:
        out.write(f"# consumer_log.txt: run started {now()}, consumer pid {os.getpid()}\n")
        while (v := b.recv()) is not None:
            out.write(f"{now()} {v} {'even' if v % 2 == 0 else 'odd'}\n"); out.flush()
            log("consumer", f"received {v}")
    log("consumer", "end marker received")
if __name__ == "__main__":
    open("execution_log.txt", "w").close()
    log("main", "started: count 12, range 1..=100")
    a, b = Pipe()
    p = Process(target=producer, args=(a, b)); c = Process(target=consumer, args=(a, b))
    p.start(); c.start()
    log("main", f"spawned producer {p.pid}"); log("main", f"spawned consumer {c.pid}")
    p.join(); c.join()
    log("main", "exiting with code 0")
