/**
 * A tiny HTTP file server on 127.0.0.1 (port 0) for download tests: serves fixed bytes with Range, ETag and
 * If-Range support, and can throttle, ignore Range, drop the connection mid-file, send HTML, or omit
 * Content-Length, or hold a body half-sent until the test lets it go. Routes can be replaced while it runs (a file that changes on the server). Records every request.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
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
  /** Send no ETag (by default a strong ETag from the body's sha256, as file servers do). */
  readonly noEtag?: boolean;
  /** Send this Last-Modified (an HTTP date). */
  readonly lastModified?: string;
  /** Send the body `bytes` at a time, `everyMs` apart. */
  readonly throttle?: { readonly bytes: number; readonly everyMs: number };
  /** Send `after` body bytes, then hold the rest until `open` resolves (a download that is surely in progress). */
  readonly gate?: { readonly after: number; readonly open: Promise<void> };
}

export interface SeenRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export interface TestServer {
  /** `http://127.0.0.1:PORT<path>` */
  url(path: string): string;
  /** Serves `route` at `path` from the next request on. */
  setRoute(path: string, route: Route): void;
  /** The ETag the server sends for `body`. */
  etagOf(body: Uint8Array): string;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

const etagOf = (body: Uint8Array): string => `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;

/** Whether an If-Range header lets the Range apply: it must equal the current strong ETag or Last-Modified. */
function ifRangeHolds(ifRange: string | undefined, route: Route): boolean {
  if (ifRange === undefined) return true;
  if (ifRange.startsWith('"')) return !route.noEtag && ifRange === etagOf(route.body);
  return route.lastModified !== undefined && ifRange === route.lastModified;
}

/** Writes `body` (held at the gate, in throttled pieces when asked); stops when the client goes away. */
async function sendBody(res: ServerResponse, body: Uint8Array, route: Route): Promise<void> {
  let at = 0;
  if (route.gate) {
    at = Math.min(route.gate.after, body.length);
    res.write(body.subarray(0, at));
    await route.gate.open;
  }
  const step = route.throttle?.bytes ?? body.length;
  while (at < body.length) {
    if (res.destroyed) return;
    res.write(body.subarray(at, at + step));
    at += step;
    if (route.throttle) await new Promise((r) => setTimeout(r, route.throttle?.everyMs));
  }
  if (!res.destroyed) res.end();
}

/** Starts a server for `routes` (path → route); other paths get 404. */
export async function startServer(initial: Record<string, Route>): Promise<TestServer> {
  const routes = new Map(Object.entries(initial));
  const requests: SeenRequest[] = [];
  const drops = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    requests.push({ path, headers: req.headers });
    const route = routes.get(path);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const size = route.body.length;
    let start = 0;
    let status = 200;
    const headers: Record<string, string | number> = { 'content-type': route.contentType ?? 'application/octet-stream', 'accept-ranges': 'bytes' };
    if (!route.noEtag) headers.etag = etagOf(route.body);
    if (route.lastModified) headers['last-modified'] = route.lastModified;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !route.ignoreRange && ifRangeHolds(req.headers['if-range'] as string | undefined, route)) {
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
    if (route.throttle || route.gate) void sendBody(res, body, route);
    else res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    setRoute: (path, route) => void routes.set(path, route),
    etagOf,
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
