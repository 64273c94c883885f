#!/bin/sh
# A FIFO between a producer and a consumer subshell; each log line appended under flock(1).
LOG=execution_log.txt
: > "$LOG"
log() { { flock 9; echo "$(date +%H:%M:%S) [$1] $2" >&9; } 9>>"$LOG"; }
rm -f canal consumer_log.txt
mkfifo canal
log main "inicio"
(
    for v in $(shuf -i 1-1000 -n 12); do
        echo "$v"
        log produtor "enviou $v"
        sleep 0.02
    done > canal
) &
P=$!
(
    while read -r v; do
        if [ $((v % 2)) -eq 0 ]; then c=par; else c=impar; fi
        echo "$v $c" >> consumer_log.txt
        log consumidor "recebeu $v"
    done < canal
) &
C=$!
wait $P
wait $C
log main "fim"
