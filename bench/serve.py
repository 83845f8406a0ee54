"""A small threaded WSGI server for the API benchmark (gunicorn is not a
dependency): the standard library's wsgiref with a fixed pool of threads, so
each thread keeps its database connection between requests.

    DATABASE_URL=... .venv/bin/python bench/serve.py --port 8099 --threads 16
"""

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 (stdlib name)
        pass


class PoolServer(WSGIServer):
    request_queue_size = 256
    threads = 16

    def server_activate(self) -> None:
        super().server_activate()
        self.pool = ThreadPoolExecutor(self.threads)

    def process_request(self, request, client_address) -> None:
        self.pool.submit(self._handle, request, client_address)

    def _handle(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbook.settings")
    from django.core.wsgi import get_wsgi_application

    PoolServer.threads = args.threads
    server = make_server(
        "127.0.0.1",
        args.port,
        get_wsgi_application(),
        server_class=PoolServer,
        handler_class=QuietHandler,
    )
    print(f"serving on 127.0.0.1:{args.port} with {args.threads} threads", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
