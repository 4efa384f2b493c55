"""ECB reference rate documents in the ECB's XML format, and a real local HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
    'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">\n'
    "\t<gesmes:subject>Reference rates</gesmes:subject>\n"
    "\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n"
    "\t</gesmes:Sender>\n\t<Cube>\n"
)
TAIL = "\t</Cube>\n</gesmes:Envelope>\n"


def ecb_xml(days: dict[str, dict[str, str]]) -> str:
    body = ""
    for day, rates in days.items():
        body += f"\t\t<Cube time='{day}'>\n"
        for cur, rate in rates.items():
            body += f"\t\t\t<Cube currency='{cur}' rate='{rate}'/>\n"
        body += "\t\t</Cube>\n"
    return HEAD + body + TAIL


DAY1 = {"2026-12-03": {"USD": "1.0523", "JPY": "158.12", "GBP": "0.83145", "KWD": "0.3245"}}
DAY2 = {"2026-12-04": {"USD": "1.0550", "JPY": "159.00", "GBP": "0.83300", "KWD": "0.3251"}}


class Served:
    """What the server answers: a status and a body, changeable by the test."""

    def __init__(self, body: str, status: int = 200) -> None:
        self.body = body
        self.status = status
        self.requests = 0


@contextmanager
def serve(served: Served) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests += 1
            data = served.body.encode()
            self.send_response(served.status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stats/eurofxref/eurofxref-daily.xml"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
