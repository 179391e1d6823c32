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

/**
 * Playwright launch options for the real browser the tests drive: Debian's
 * Chromium (`CHROMIUM_PATH` overrides), headless, and with the flags that stop
 * it reaching out on its own (this machine has no network beyond loopback,
 * and a test must not depend on one). Pass them to
 * `chromium.launchPersistentContext(freshProfileDir, chromiumOptions(…))`: a
 * persistent context is how Playwright takes a fresh `--user-data-dir`.
 */
export function chromiumOptions(viewport: { width: number; height: number }) {
  return {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport,
  };
}
