// Runs the IMDSv2 stand-in standalone for the local stack:
//   tsx local/imds/cli.ts [--port N] [--role NAME] [--lifetime-ms MS]
// Prints one JSON line {url, port, roleArn} and runs until SIGINT/SIGTERM. Note: the KMS stand-in
// checks SigV4 against the credentials this process issued only when both run in one process
// (scripts/demo wires them together through startImdsStandin().lookup).
import { startImdsStandin } from './server.ts';

const args = process.argv.slice(2);
const get = (k: string): string | undefined => {
  const i = args.indexOf(k);
  return i >= 0 ? args[i + 1] : undefined;
};
const imds = await startImdsStandin({
  port: Number(get('--port') ?? 0),
  ...(get('--role') ? { roleName: get('--role')! } : {}),
  ...(get('--lifetime-ms') ? { credentialLifetimeMs: Number(get('--lifetime-ms')) } : {}),
});
process.stdout.write(`${JSON.stringify({ url: imds.url, port: imds.port, roleArn: imds.roleArn })}\n`);
const stop = (): void => {
  void imds.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
