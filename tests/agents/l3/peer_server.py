"""A tiny TCP server for the data-plane tests, run inside a namespace.

``peer``: answers every connection with the source address it saw, then closes.
``echo``: echoes each line back until the client closes.
"""
import socket
import sys
import threading


def serve(mode: str, address: str, port: int) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(16)
    print("ready", flush=True)
    while True:
        conn, peer = listener.accept()
        threading.Thread(target=handle, args=(mode, conn, peer), daemon=True).start()


def handle(mode: str, conn: socket.socket, peer) -> None:
    with conn:
        if mode == "peer":
            conn.sendall(f"{peer[0]}\n".encode())
            return
        with conn.makefile("rb") as lines:
            for line in lines:
                conn.sendall(line)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]))
