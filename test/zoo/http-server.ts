/**
 * A tiny HTTP file server on 127.0.0.1 (port 0) for download tests: serves fixed bytes with Range support, and
 * can ignore Range, drop the connection mid-file, send HTML, or omit Content-Length. Records every request.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Route {
  readonly body: Uint8Array;
  /** Answer 200 with the whole file even when a Range was asked for. */
  readonly ignoreRange?: boolean;
  /** For the first `dropTimes` requests (default 1), send this many body bytes, wait 150 ms, destroy the socket. */
  readonly dropAfter?: number;
  readonly dropTimes?: number;
  /** Content-Type (default application/octet-stream). */
  readonly contentType?: string;
  /** Send the body chunked, without Content-Length. */
  readonly noLength?: boolean;
}

export interface SeenRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export interface TestServer {
  /** `http://127.0.0.1:PORT<path>` */
  url(path: string): string;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

/** Starts a server for `routes` (path → route); other paths get 404. */
export async function startServer(routes: Record<string, Route>): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const drops = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    requests.push({ path, headers: req.headers });
    const route = routes[path];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const size = route.body.length;
    let start = 0;
    let status = 200;
    const headers: Record<string, string | number> = { 'content-type': route.contentType ?? 'application/octet-stream', 'accept-ranges': 'bytes' };
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !route.ignoreRange) {
      start = Number(range[1]);
      if (start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
    }
    const body = route.body.subarray(start);
    if (!route.noLength) headers['content-length'] = body.length;
    res.writeHead(status, headers);
    const dropped = drops.get(path) ?? 0;
    if (route.dropAfter !== undefined && dropped < (route.dropTimes ?? 1)) {
      drops.set(path, dropped + 1);
      res.write(body.subarray(0, route.dropAfter), () => setTimeout(() => res.socket?.destroy(), 150));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A URL on a port nothing listens on (bound, then closed). */
export async function closedPortUrl(path: string): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}${path}`;
}
