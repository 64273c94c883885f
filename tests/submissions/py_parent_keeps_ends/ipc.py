# The classic mistake: multiprocessing.Pipe with the fork start method, and nobody closes the
# ends it does not use. Kill the producer and the consumer waits for ever; kill the consumer
# and the producer's sends still succeed (main holds the other end).
import multiprocessing as mp
import random
from datetime import datetime


def registrar(trava, quem, texto):
    with trava:
        with open("execution_log.txt", "a") as f:
            f.write(f"{datetime.now():%Y-%m-%d %H:%M:%S} - {quem} - {texto}\n")


def produtor(conn, trava):
    for v in random.sample(range(1, 101), 12):
        conn.send(v)
        registrar(trava, "Produtor", f"Enviando dado: {v}")
        import time; time.sleep(0.02)
    conn.send(None)


def consumidor(conn, trava):
    with open("consumer_log.txt", "w") as saida:
        while True:
            try:
                v = conn.recv()
            except EOFError:
                break
            if v is None:
                break
            saida.write(f"[{datetime.now():%H:%M:%S}] - Dado {v} recebido e processado como '{'Par' if v % 2 == 0 else 'Impar'}'.\n")
            saida.flush()
            registrar(trava, "Consumidor", f"Recebeu {v}")


if __name__ == "__main__":
    mp.set_start_method("fork")
    open("execution_log.txt", "w").close()
    trava = mp.Lock()
    a, b = mp.Pipe()
    registrar(trava, "Main", "inicio")
    p = mp.Process(target=produtor, args=(a, trava))
    c = mp.Process(target=consumidor, args=(b, trava))
    p.start(); c.start(); p.join(); c.join()
    registrar(trava, "Main", "fim")
