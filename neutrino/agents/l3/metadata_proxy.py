"""The per-router metadata proxy: ``python -m neutrino.agents.l3.metadata_proxy``.

Neutron runs haproxy in ``qrouter-<id>`` (``bind 0.0.0.0:9697``, ``option
forwardfor``, ``set-header X-Neutron-Router-ID``) forwarding to the metadata
agent's unix socket. This is the same in a few lines of asyncio: one request
per connection, headers the instance may have forged (X-Forwarded-For,
X-Neutron-*) replaced by the real source address and the router id, the
answer streamed back. It runs as its own process in the namespace, so it
outlives a restart of the agent that started it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

DROPPED = {"x-forwarded-for", "x-neutron-router-id", "x-neutron-network-id",
           "connection", "keep-alive", "proxy-connection"}
MAX_HEAD = 64 * 1024
MAX_BODY = 1 << 20
TIMEOUT = 30


def rewrite_head(head: bytes, client_ip: str, router_id: str) -> tuple[bytes, int]:
    """The request head to send upstream, and the body length it announces."""
    lines = head.decode("latin-1").split("\r\n")
    request = lines[0].split()
    if len(request) != 3 or not request[2].startswith("HTTP/"):
        raise ValueError("bad request line")
    out, length = [f"{request[0]} {request[1]} HTTP/1.0"], 0
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("bad header line")
        key = name.strip().lower()
        if key in DROPPED:
            continue
        if key == "content-length":
            length = int(value.strip())
            if not 0 <= length <= MAX_BODY:
                raise ValueError("bad content length")
        out.append(f"{name.strip()}: {value.strip()}")
    out += [f"X-Forwarded-For: {client_ip}", f"X-Neutron-Router-ID: {router_id}",
            "Connection: close", "", ""]
    return "\r\n".join(out).encode("latin-1"), length


def _reply(writer: asyncio.StreamWriter, status: str) -> None:
    body = f"{status}\n".encode()
    writer.write(f"HTTP/1.0 {status}\r\nContent-Type: text/plain\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


class Proxy:
    def __init__(self, router_id: str, socket_path: str):
        self.router_id = router_id
        self.socket_path = socket_path

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client_ip = (writer.get_extra_info("peername") or ("",))[0]
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            try:
                upstream_head, length = rewrite_head(head, client_ip, self.router_id)
            except ValueError:
                _reply(writer, "400 Bad Request")
                return
            body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT) if length else b""
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(self.socket_path), TIMEOUT)
            except OSError:
                _reply(writer, "503 Service Unavailable")
                return
            try:
                up_writer.write(upstream_head + body)
                await up_writer.drain()
                while chunk := await asyncio.wait_for(up_reader.read(65536), TIMEOUT):
                    writer.write(chunk)
                    await writer.drain()
            finally:
                up_writer.close()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError):
            pass
        finally:
            try:
                await writer.drain()
            except ConnectionError:
                pass
            writer.close()


async def serve(router_id: str, socket_path: str, host: str, port: int,
                pid_file: str | None) -> None:
    proxy = Proxy(router_id, socket_path)
    server = await asyncio.start_server(proxy.handle, host, port, limit=MAX_HEAD,
                                        reuse_address=True)
    if pid_file:
        tmp = f"{pid_file}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, pid_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="neutrino-metadata-proxy")
    parser.add_argument("--router-id", required=True)
    parser.add_argument("--socket", required=True, help="the metadata service's unix socket")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=9697)
    parser.add_argument("--pid-file", default=None)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.router_id, args.socket, args.bind, args.port, args.pid_file))
    except OSError as exc:
        print(f"metadata proxy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
