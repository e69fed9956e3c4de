// Once per `vitest run`, before any test file: the versions of the outside oracles this run grades against
// (issue 11), so CI output says which openssl, gpgsm, Dovecot, … a pass or a failure was measured with.
import { formatOracleVersions, probeOracleVersions } from '@ssmax/core/testing';

export default function setup(): void {
  console.log(formatOracleVersions(probeOracleVersions()));
}
