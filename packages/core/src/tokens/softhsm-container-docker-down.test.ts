import { describe, expect, it } from 'vitest';
import { SsmaxError } from '../errors.js';
import { SoftHsmContainer } from './softhsm-container.js';

describe('SoftHsmContainer', () => {
  it('fails with CONTAINER_ERROR naming scripts/docker-up.sh when Docker is unreachable', async () => {
    const started = SoftHsmContainer.start({ label: 'x', soPin: '87654321', userPin: '123456', dockerHost: 'unix:///nonexistent/ssmax-docker.sock' });
    const err = await started.then(
      async (hsm) => {
        await hsm.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(SsmaxError.is(err, 'CONTAINER_ERROR')).toBe(true);
    expect((err as SsmaxError).message).toContain('scripts/docker-up.sh');
  });
});
