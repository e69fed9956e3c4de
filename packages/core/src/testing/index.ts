/**
 * @ssmax/core/testing: test support other packages use. The openssl command-line PKI for interop tests, and the
 * outside oracles' versions (recorded by a test run and by matrix.json). The rest of src/testing is imported by path
 * from core's own tests.
 */
export { createOpensslPki, type OpensslIdentity, type OpensslKeyAlgorithm, type OpensslPki } from './openssl-pki.js';
export {
  ABSENT,
  formatOracleVersions,
  ORACLES,
  probeOracleVersions,
  type CommandResult,
  type CommandRunner,
  type OracleName,
  type OracleVersions,
} from './oracle-versions.js';
export { buildCompiled } from './build-compiled.js';
