process.stderr.write('ssmax: not built yet\n');
process.exitCode = 2;
