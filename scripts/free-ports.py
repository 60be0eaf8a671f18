#!/usr/bin/env python3
"""free-ports.py N: prints N distinct free TCP ports of 127.0.0.1, on one line.

Chosen at random below the ephemeral range (32768+), where the many client
connections of a benchmark or a smoke run cannot take them meanwhile (ports
the kernel hands out for port 0 can be reused that way); each is checked free
by binding it. Used by bench/run.sh, bench/sync.sh and scripts/image-check.sh.
"""
import random
import socket
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
ports = []
while len(ports) < n:
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        if p not in ports:
            ports.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(*ports)
