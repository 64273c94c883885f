# multiprocessing with the forkserver start method (Python 3.14's default on Linux): the
# children are forked by the forkserver, not by main. A one-way Pipe; main closes both ends
# once the children have theirs, so end of file and broken pipe really happen.
import multiprocessing as mp
import random
import time


def log(lock, who, text):
    with lock:
        with open("execution_log.txt", "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {who}: {text}\n")


def producer(w, lock):
    for v in random.sample(range(1, 500), 12):
        try:
            w.send(v)
        except BrokenPipeError:
            log(lock, "producer", "broken pipe")
            return
        log(lock, "producer", f"sent {v}")
        time.sleep(0.02)
    w.close()


def consumer(r, lock):
    with open("consumer_log.txt", "w") as out:
        while True:
            try:
                v = r.recv()
            except EOFError:
                log(lock, "consumer", "end of file")
                return
            out.write(f"{v} is {'even' if v % 2 == 0 else 'odd'}\n")
            out.flush()
            log(lock, "consumer", f"got {v}")


if __name__ == "__main__":
    mp.set_start_method("forkserver")
    open("execution_log.txt", "w").close()
    lock = mp.Lock()
    r, w = mp.Pipe(duplex=False)
    log(lock, "main", "start")
    p = mp.Process(target=producer, args=(w, lock))
    c = mp.Process(target=consumer, args=(r, lock))
    p.start()
    c.start()
    r.close()
    w.close()
    p.join()
    c.join()
    log(lock, "main", "done")
