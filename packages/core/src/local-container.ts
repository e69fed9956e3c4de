/**
 * A program in a locally built image, run through testcontainers the way the SoftHSM2 container token is:
 * Ryuk off (no registry is reachable for its image), never pulled, the local Docker daemon only. Its
 * stdout and stderr come back merged as one text stream; stop is `docker stop` (SIGTERM, then SIGKILL).
 * Used for outside implementations under test (`implementation: {kind: container}`, docs/IMPLEMENTING.md).
 */
import type { Readable } from 'node:stream';
import type { StartedTestContainer } from 'testcontainers';
import { checkLocalDocker } from './docker-endpoint.js';
import { SsmaxError } from './errors.js';

/** Options of {@link startLocalContainer}. */
export interface LocalContainerOptions {
  /** A locally built image (never pulled). */
  readonly image: string;
  /** Arguments after the image's entrypoint (replaces its CMD), when given. */
  readonly command?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Host paths mounted into the container. */
  readonly bindMounts?: readonly { readonly source: string; readonly target: string; readonly readOnly?: boolean }[];
  /** Docker network mode, e.g. `host` (a world's simulated network is the host's loopback). */
  readonly networkMode?: string;
  /** Default DOCKER_HOST, else unix:///var/run/docker.sock. */
  readonly dockerHost?: string;
}

/** A running container: its merged output, the end of that output (the container stopped), and how to stop it. */
export interface LocalContainer {
  readonly id: string;
  /** stdout and stderr as the program writes them (UTF-8 text, merged). */
  readonly output: Readable;
  /** Resolves when the output ends: the container has stopped. */
  readonly ended: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; the container is removed. */
  stop(graceMs: number): Promise<void>;
}

/** Starts `o.image` and resolves once it runs, with its output stream. */
export async function startLocalContainer(o: LocalContainerOptions): Promise<LocalContainer> {
  await checkLocalDocker(o.dockerHost, `image ${o.image}`);
  const tc = await import('testcontainers');
  let output: Readable | undefined;
  let container: StartedTestContainer;
  try {
    let c = new tc.GenericContainer(o.image).withPullPolicy({ shouldPull: () => false }).withLogConsumer((s) => {
      output = s;
    });
    if (o.networkMode) c = c.withNetworkMode(o.networkMode);
    if (o.command) c = c.withCommand([...o.command]);
    if (o.env) c = c.withEnvironment({ ...o.env });
    if (o.bindMounts)
      c = c.withBindMounts(o.bindMounts.map((m) => ({ source: m.source, target: m.target, mode: m.readOnly ? ('ro' as const) : ('rw' as const) })));
    container = await c.start();
  } catch (cause) {
    throw new SsmaxError(
      'CONTAINER_ERROR',
      `Cannot start image ${o.image}. ${(cause as Error).message.split('\n')[0]} (a local image: build it, it is never pulled).`,
      {
        cause,
      },
    );
  }
  if (!output) {
    await container.stop({ timeout: 0 }).catch(() => undefined);
    throw new SsmaxError('CONTAINER_ERROR', `Cannot read the output of image ${o.image}. Docker gave no log stream.`);
  }
  const out = output;
  const ended = new Promise<void>((resolve) => {
    out.once('end', resolve);
    out.once('close', resolve);
    out.once('error', () => resolve());
  });
  let stopping: Promise<void> | undefined;
  return {
    id: container.getId(),
    output: out,
    ended,
    stop: (graceMs) =>
      (stopping ??= container
        .stop({ timeout: Math.max(0, graceMs), remove: true })
        .then(() => undefined)
        .catch(() => undefined)),
  };
}
