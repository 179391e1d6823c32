import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, chosen by the kernel:
 * for the real server (database, object store, registry) a plugin's tests
 * start on loopback.
 *
 * @example
 * ```ts
 * const port = await freePort();
 * await run('bash', ['scripts/servers/postgres.sh', 'start', dir, String(port)]);
 * ```
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
