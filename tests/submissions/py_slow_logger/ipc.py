# forkserver (the children get only the ends they are handed), one pipe, one shared lock (a
# POSIX semaphore: taking it when free makes no system call). The consumer logs slowly and
# keeps the lock while it does (a slow disk), so at any moment it is most likely inside the
# lock, not waiting on the pipe. Correct all the same: a grader that kills the consumer there
# leaves the lock taken for ever, and the producer's "broken pipe" line waits on it.
import multiprocessing as mp
import os
import random
import time


def log(lock, who, text):
    with lock:
        with open("execution_log.txt", "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {who} {os.getpid()}: {text}\n")
            f.flush()
            if who == "consumer":
                time.sleep(0.1)


def producer(w, lock):
    for v in random.sample(range(1, 1000), 12):
        try:
            w.send(v)
        except BrokenPipeError:
            log(lock, "producer", "broken pipe")
            return
        time.sleep(0.01)
    w.close()
    log(lock, "producer", "sent all")


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
