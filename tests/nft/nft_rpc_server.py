"""A JSON-RPC endpoint over HTTP in front of an eth-tester chain (py-evm), for tests that need a
chain shared by several processes: the plugin then talks to it exactly as to a production node
(``Web3.HTTPProvider``). Requests are served one at a time (py-evm is not thread-safe)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RpcChain:
    def __init__(self) -> None:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider, Web3
        from web3.providers.eth_tester.middleware import ethereum_tester_middleware

        self.backend = PyEVMBackend()
        self.tester = EthereumTester(self.backend)
        provider = EthereumTesterProvider(self.tester)
        # the middleware turns JSON-RPC hex arguments into eth-tester's and its answers back
        self._handle = ethereum_tester_middleware(Web3(provider)).wrap_make_request(provider.make_request)
        self._lock = threading.Lock()
        self.requests = 0
        chain = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                from web3._utils.encoding import Web3JsonEncoder

                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with chain._lock:
                    chain.requests += 1
                    params = req.get("params", [])
                    if req["method"] in ("eth_call", "eth_estimateGas") and params and "from" not in params[0]:
                        params = [{**params[0], "from": chain.tester.get_accounts()[1]}, *params[1:]]  # nodes need none
                    try:
                        out = dict(chain._handle(req["method"], params))
                    except Exception as exc:  # what a node answers: a JSON-RPC error
                        out = {"error": {"code": -32000, "message": str(exc)}}
                out.update(jsonrpc="2.0", id=req.get("id"))
                body = json.dumps(out, cls=Web3JsonEncoder).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def funded_key_hex(self) -> str:
        return "0x" + self.backend.account_keys[0].to_bytes().hex()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
