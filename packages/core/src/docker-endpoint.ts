/**
 * The local Docker daemon as testcontainers is used here (the SoftHSM2 container token, startLocalContainer):
 * Ryuk off, since no registry is reachable for its image, and the daemon on this host. A unix-socket endpoint
 * is checked first, because testcontainers silently falls back to other daemons when the configured one does
 * not answer.
 */
import * as http from 'node:http';
import { SsmaxError } from './errors.js';

/** GET /_ping on a unix-socket Docker endpoint. */
function pingDocker(socketPath: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve();
      else reject(new Error(`Docker answered /_ping with HTTP ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * Sets testcontainers' environment for a local daemon (where not set already) and, for a `unix://` endpoint,
 * checks that the daemon answers. The endpoint is `dockerHost`, else DOCKER_HOST, else unix:///var/run/docker.sock.
 * @param subject what is being started, for the error: "Cannot start <subject>. Docker is not reachable at …".
 * @throws SsmaxError CONTAINER_ERROR when the daemon does not answer within 3 s.
 */
export async function checkLocalDocker(dockerHost: string | undefined, subject: string): Promise<void> {
  // testcontainers reads these when first used: no registry is reachable for Ryuk, and the daemon is local.
  process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';
  process.env['TESTCONTAINERS_HOST_OVERRIDE'] ??= 'localhost';
  const endpoint = dockerHost ?? process.env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock';
  if (endpoint.startsWith('unix://')) {
    try {
      await pingDocker(endpoint.slice('unix://'.length), 3_000);
    } catch (cause) {
      throw new SsmaxError('CONTAINER_ERROR', `Cannot start ${subject}. Docker is not reachable at ${endpoint}; run scripts/docker-up.sh.`, { cause });
    }
  }
}
