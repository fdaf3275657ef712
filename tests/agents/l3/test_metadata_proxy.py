"""The per-router proxy: header rewriting, and a real proxy process in front of a unix socket."""
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler

import pytest

from neutrino.agents.l3.metadata_proxy import rewrite_head


def test_rewrite_replaces_forged_headers():
    head = (b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\n"
            b"X-Forwarded-For: 10.0.0.99\r\nX-Neutron-Router-ID: evil\r\n"
            b"X-Neutron-Network-ID: evil\r\nConnection: keep-alive\r\n\r\n")
    out, length = rewrite_head(head, "10.0.0.5", "r1")
    lines = out.decode().split("\r\n")
    assert lines[0] == "GET /latest/meta-data/instance-id HTTP/1.0"
    assert "Host: 169.254.169.254" in lines
    assert [ln for ln in lines if ln.lower().startswith("x-")] == [
        "X-Forwarded-For: 10.0.0.5", "X-Neutron-Router-ID: r1"]
    assert "Connection: close" in lines and out.endswith(b"\r\n\r\n") and length == 0


def test_rewrite_refuses_garbage():
    for head in (b"nonsense\r\n\r\n", b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
                 b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"):
        with pytest.raises(ValueError):
            rewrite_head(head, "10.0.0.5", "r1")
    assert rewrite_head(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", "1.2.3.4", "r")[1] == 3


class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (f"{self.path}|{self.headers.get('X-Forwarded-For')}|"
                f"{self.headers.get('X-Neutron-Router-ID')}").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_proxy_process_forwards_with_headers(tmp_path):
    sock = str(tmp_path / "metadata_proxy")
    upstream = UnixServer(sock, Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    pid_file = tmp_path / "proxy.pid"
    proxy = subprocess.Popen([sys.executable, "-m", "neutrino.agents.l3.metadata_proxy",
                              "--router-id", "router-9", "--socket", sock,
                              "--bind", "127.0.0.1", "--port", str(port),
                              "--pid-file", str(pid_file)])
    try:
        deadline = time.monotonic() + 10
        while not pid_file.exists():
            assert proxy.poll() is None and time.monotonic() < deadline, "proxy did not start"
            time.sleep(0.01)
        assert int(pid_file.read_text()) == proxy.pid
        req = urllib.request.Request(f"http://127.0.0.1:{port}/latest/meta-data/instance-id",
                                     headers={"X-Forwarded-For": "6.6.6.6"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.read() == b"/latest/meta-data/instance-id|127.0.0.1|router-9"
        # The metadata service going away is a 503, not a hang.
        upstream.shutdown()
        upstream.server_close()
        os.unlink(sock)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        assert err.value.code == 503
    finally:
        proxy.terminate()
        proxy.wait(5)
