"""A loopback TCP forwarder: what `ssh -R` or a container's port forward does to a connection.

Listens on 127.0.0.1 (a free port, printed on the first line of stdout) and copies bytes both
ways to 127.0.0.1:<target port>, unchanged: the client's Host header names the forwarder's port,
as an SDK on a remote host or in a container names its own loopback. Used by
tests/it/cli_client.rs to prove the serve-credentials recipes in the README.

    python3 tcp_forward.py <target port>
"""

import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def main():
    target = int(sys.argv[1])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", target))
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


if __name__ == "__main__":
    main()
