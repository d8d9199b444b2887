#!/usr/bin/env python3
"""Loopback HTTP(S) server for curl_transport_test.cc: prints its port, then
serves until killed. Behaviour by path (HTTP/1.0, Connection: close):
  POST /rpc        echoes the body with the request's Content-Type
  POST /html500    HTTP 500 with an HTML page (XAPI's malformed-request answer)
  GET  /data?n=N   N bytes (i % 251) without Content-Length, header task-id
  GET  /redirect?q 302 to /data?q on the same server
  GET  /embedded   200 whose body starts with "HTTP/1.1 500"
  GET  /401        401 with WWW-Authenticate
  PUT  /upload     403 if chunked, else reads Content-Length bytes, answers
                   200 with x-received and x-sum (sum of bytes mod 2^32)
"""
import http.server, ssl, sys, urllib.parse

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if self.path == '/html500':
            page = b'<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred</body></html>'
            self.send_response(500); self.send_header('Content-Type', 'text/html'); self.end_headers()
            self.wfile.write(page); return
        self.send_response(200)
        self.send_header('Content-Type', self.headers.get('Content-Type', 'text/plain'))
        self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == '/data':
            n = int(q.get('n', ['0'])[0])
            self.send_response(200); self.send_header('task-id', 'OpaqueRef:task-1')
            self.send_header('x-query', u.query); self.end_headers()
            buf = bytes(i % 251 for i in range(251 * 64))
            sent = 0
            while sent < n:
                chunk = buf[: min(len(buf), n - sent)]
                self.wfile.write(chunk); sent += len(chunk)
        elif u.path == '/redirect':
            host, port = self.server.server_address[:2]
            scheme = 'https' if isinstance(self.connection, ssl.SSLSocket) else 'http'
            self.send_response(302)
            self.send_header('Location', f'{scheme}://{host}:{port}/data?{u.query}'); self.end_headers()
        elif u.path == '/embedded':
            self.send_response(200); self.end_headers()
            self.wfile.write(b'HTTP/1.1 500 Internal Error\r\n\r\nVDI_IO_ERROR')
        else:
            self.send_response(401); self.send_header('WWW-Authenticate', 'Basic realm="xapi"')
            self.end_headers()

    def do_PUT(self):
        if 'chunked' in self.headers.get('Transfer-Encoding', ''):
            self.send_response(403); self.end_headers(); return
        n = int(self.headers.get('Content-Length', 0))
        total = got = 0
        while got < n:
            b = self.rfile.read(min(65536, n - got))
            if not b: break
            got += len(b); total = (total + sum(b)) & 0xffffffff
        self.send_response(200); self.send_header('x-received', str(got))
        self.send_header('x-sum', str(total)); self.send_header('task-id', 'OpaqueRef:task-2')
        self.end_headers()

srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
if len(sys.argv) == 4 and sys.argv[1] == '--tls':
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
